import Foundation
import GRDB
import ShipgateModel

/// The durable state of one workspace: `.shipgate/state.db`, SQLite in WAL mode.
///
/// Contract: every write is one SQLite transaction, so `kill -9` at any moment leaves the
/// database as it was before or after that write, never in between. Several shipgate
/// processes may share the file: writes take SQLite's write lock at once (`BEGIN IMMEDIATE`)
/// and wait up to `busyTimeout` for it. The schema is versioned by `migrations` in code.
public final class SQLiteStateStore: StateStore {
    public let path: String
    let queue: DatabaseQueue
    public var location: String { path }

    public static func path(stateDirectory: String) -> String { (stateDirectory as NSString).appendingPathComponent("state.db") }

    public init(path: String, busyTimeout: TimeInterval = 30) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(busyTimeout)
        config.foreignKeysEnabled = true
        // WAL with NORMAL sync: a commit survives the process being killed at any moment
        // (kill -9); only an OS crash may lose the last commits, never consistency.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        // Two processes opening a new database must not both migrate it: SQLite's own locking
        // does not cover GRDB's check of which migrations ran, so opening is serialized here.
        let lockFD = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if lockFD >= 0 { flock(lockFD, LOCK_EX) }
        defer {
            if lockFD >= 0 {
                flock(lockFD, LOCK_UN)
                close(lockFD)
            }
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            try Self.migrations.migrate(queue)
        } catch {
            throw StateError.cannotOpen(path: path, reason: "\(error)")
        }
    }

    public convenience init(stateDirectory: String) throws {
        try self.init(path: Self.path(stateDirectory: stateDirectory))
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try queue.write(body) } catch let e as StateError { throw e } catch { throw StateError.database("\(error)") }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try queue.read(body) } catch let e as StateError { throw e } catch { throw StateError.database("\(error)") }
    }

    /// Schema versions, applied in order, each once. Never edit a shipped migration: add one.
    static var migrations: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "runs") { t in
                t.primaryKey("id", .text)
                t.column("pipeline", .text).notNull()
                t.column("pipelineFile", .text).notNull()
                t.column("pipelineDigest", .text).notNull()
                t.column("status", .text).notNull()
                t.column("actor", .text).notNull()
                t.column("commitID", .text)
                t.column("branch", .text)
                t.column("version", .text)
                t.column("workspace", .text).notNull()
                t.column("pid", .integer).notNull()
                t.column("host", .text).notNull()
                t.column("partial", .boolean).notNull().defaults(to: false)
                t.column("selection", .text)  // `--job` values, JSON array; null: all jobs
                t.column("git", .text)
                t.column("startedAt", .text).notNull()
                t.column("finishedAt", .text)
            }
            try db.create(table: "jobs") { t in
                t.column("runID", .text).notNull().references("runs", onDelete: .cascade)
                t.column("id", .text).notNull()
                t.column("status", .text).notNull()
                t.column("record", .text).notNull()  // the JobResult as JSON
                t.column("finishedAt", .text)
                t.primaryKey(["runID", "id"])
            }
            try db.create(table: "attempts") { t in
                t.column("runID", .text).notNull().references("runs", onDelete: .cascade)
                t.column("job", .text).notNull()
                t.column("attempt", .integer).notNull()
                t.column("status", .text).notNull()
                t.column("reason", .text)
                t.column("at", .text).notNull()
                t.primaryKey(["runID", "job", "attempt"])
            }
            try db.create(table: "gates") { t in
                t.column("runID", .text).notNull().references("runs", onDelete: .cascade)
                t.column("job", .text).notNull()
                t.column("environment", .text).notNull()
                t.column("commitID", .text)
                t.column("pipelineDigest", .text).notNull()
                t.column("artifacts", .text).notNull()
                t.column("status", .text).notNull()
                t.column("decision", .text).notNull()
                t.column("requestedBy", .text).notNull()
                t.column("requestedAt", .text).notNull()
                t.column("updatedAt", .text).notNull()
                t.primaryKey(["runID", "job"])
            }
            try db.create(table: "approvals") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("digest", .text).notNull().unique()
                t.column("decision", .text).notNull()
                t.column("approver", .text).notNull()
                t.column("environment", .text).notNull()
                t.column("commitID", .text).notNull()
                t.column("runID", .text).notNull()
                t.column("issuedAt", .text).notNull()
                t.column("expiresAt", .text).notNull()
                t.column("statement", .text).notNull()
                t.column("recordedAt", .text).notNull()
            }
            try db.create(index: "approvals_env_commit", on: "approvals", columns: ["environment", "commitID"])
            try db.create(table: "deployments") { t in
                t.primaryKey("release", .text)
                t.column("environment", .text).notNull()
                t.column("runID", .text).notNull()
                t.column("job", .text).notNull()
                t.column("version", .text)
                t.column("commitID", .text)
                t.column("artifacts", .text).notNull()
                t.column("files", .text).notNull()
                t.column("status", .text).notNull()
                t.column("approvedBy", .text).notNull()
                t.column("actor", .text).notNull()
                t.column("detail", .text)
                t.column("rollbackOf", .text)
                t.column("pid", .integer).notNull()
                t.column("host", .text).notNull()
                t.column("startedAt", .text).notNull()
                t.column("finishedAt", .text)
            }
            try db.create(index: "deployments_env", on: "deployments", columns: ["environment", "startedAt"])
            try db.create(table: "audit") { t in
                t.primaryKey("seq", .integer)
                t.column("at", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("actor", .text).notNull()
                t.column("environment", .text)
                t.column("runID", .text)
                t.column("detail", .text).notNull()
                t.column("prevHash", .text).notNull()
                t.column("hash", .text).notNull()
            }
            try db.create(table: "locks") { t in
                t.primaryKey("name", .text)
                t.column("runID", .text).notNull()
                t.column("job", .text).notNull()
                t.column("actor", .text).notNull()
                t.column("pid", .integer).notNull()
                t.column("host", .text).notNull()
                t.column("acquiredAt", .text).notNull()
            }
        }
        // v2: for the console: indexes for its listings (newest runs, blocked gates, releases by
        // status) and job durations as a column, so metrics need not parse every record.
        m.registerMigration("v2") { db in
            try db.create(index: "runs_started", on: "runs", columns: ["startedAt"])
            try db.create(index: "gates_status", on: "gates", columns: ["status"])
            try db.alter(table: "jobs") { t in t.add(column: "durationMs", .integer) }
            try db.execute(sql: "UPDATE jobs SET durationMs = CAST(json_extract(record, '$.durationMs') AS INTEGER)")
            try db.create(index: "jobs_status_duration", on: "jobs", columns: ["status", "durationMs"])
            try db.create(index: "deployments_env_status", on: "deployments", columns: ["environment", "status", "startedAt"])
            try db.create(index: "deployments_started", on: "deployments", columns: ["startedAt"])
        }
        // v3: the trusted policy each release was made under; older releases have none and
        // never count as rollback or promote-from targets.
        m.registerMigration("v3") { db in
            try db.alter(table: "deployments") { t in t.add(column: "policy", .text) }
        }
        return m
    }
}

public enum StateError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case database(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open the state database \(path): \(reason)"
        case .database(let reason): "state database: \(reason)"
        case .notFound(let what): what
        }
    }
}

/// Times are stored as ISO-8601 text with milliseconds, UTC: sortable, exact, and the same
/// bytes on every platform (the audit chain hashes them).
public enum StateTime {
    public static func string(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
            Int(parts.tm_min), Int(parts.tm_sec), Int(ms % 1000))
    }

    public static func date(_ text: String) -> Date? { UTCTime.parse(text) }
}

/// Whether a process of this host is alive (a pid of another host is assumed alive).
public enum ProcessLiveness {
    public static let host: String = ProcessInfo.processInfo.hostName

    public static func isAlive(pid: Int64, host: String) -> Bool {
        guard host == Self.host else { return true }
        if pid <= 0 || pid > Int64(Int32.max) { return false }
        guard kill(Int32(pid), 0) == 0 || errno == EPERM else { return false }
        // A killed process nobody reaped yet (a zombie) is gone too.
        #if os(Linux)
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
                let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
                if state == "Z" || state == "X" { return false }
            }
        #endif
        return true
    }
}
