import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ShipgateState

/// The state store on PostgreSQL: the same tables, records and contract as `SQLiteStateStore`,
/// for runners on many machines sharing one database.
///
/// One connection per process, used under a lock (each store method is one transaction on
/// it). Rows travel as JSON (`row_to_json` out, `json_populate_record` in), so the records
/// are decoded by the same `Codable` conformances as on SQLite. Deploy locks are session
/// advisory locks: a runner whose process or connection dies loses its locks at once, and its
/// `locks` row (who held it) is then reported as stale. Audit appends take a transaction-level
/// advisory lock, so appends from many runners form one chain. Migrations run under an
/// advisory lock too, so runners starting at once apply each version exactly once.
public final class PostgresStateStore: StateStore, @unchecked Sendable {
    public let url: PostgresURL
    public var location: String { url.redacted }
    private let connection: PostgresConnection
    private let lock = NSLock()
    private var heldHere = Set<String>()
    private let logger = Logger(label: "shipgate.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    static let migrationLock: Int64 = 0x5348_4950_0001
    static let auditLock: Int64 = 0x5348_4950_0002

    public init(url text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        url = try PostgresURL(text, environment: environment)
        connection = try Self.connect(url, logger: logger)
        try migrate()
    }

    static func connect(_ url: PostgresURL, logger: Logger) throws -> PostgresConnection {
        var config: PostgresConnection.Configuration
        if let socket = url.socketPath {
            config = .init(unixSocketPath: socket, username: url.user, password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch url.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            config = .init(host: url.host ?? "127.0.0.1", port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
        }
        config.options.connectTimeout = .seconds(10)
        do {
            return try PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(), configuration: config, id: Int(getpid()), logger: logger
            ).wait()
        } catch {
            throw PostgresStoreError.connect("\(url.redacted): \(Self.describe(error))")
        }
    }

    /// Runs one administrative statement (`CREATE DATABASE …`) on the server `url` names, without
    /// touching shipgate's tables there. For tests and for preparing a database.
    public static func administer(_ url: String, _ sql: String) throws {
        let parsed = try PostgresURL(url)
        let logger = Logger(label: "shipgate.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        let connection = try connect(parsed, logger: logger)
        defer { try? connection.close().wait() }
        do { _ = try connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).wait() } catch {
            throw PostgresStoreError.query(describe(error))
        }
    }

    deinit { try? connection.close().wait() }

    // MARK: - Plumbing

    enum Bind {
        case text(String?)
        case int(Int64)
    }

    private func bindings(_ binds: [Bind]) -> PostgresBindings {
        var b = PostgresBindings()
        for bind in binds {
            switch bind {
            case .text(let s): b.append(s)
            case .int(let n): b.append(n)
            }
        }
        return b
    }

    /// Runs one statement; returns its rows' first column as text.
    @discardableResult
    func exec(_ sql: String, _ binds: [Bind] = []) throws -> [String?] {
        do {
            let result = try connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings(binds)), logger: logger).wait()
            return try result.rows.map { row in try row.decode(String?.self) }
        } catch {
            throw PostgresStoreError.query(Self.describe(error))
        }
    }

    /// Rows of `select` decoded as `T` (through `row_to_json`).
    private func rows<T: Decodable>(_ type: T.Type, _ select: String, _ binds: [Bind] = []) throws -> [T] {
        let decoder = JSONDecoder()
        return try exec("SELECT row_to_json(r)::text FROM (\(select)) r", binds).compactMap { text in
            guard let text else { return nil }
            return try decoder.decode(T.self, from: Data(text.utf8))
        }
    }

    /// Inserts `record` into `table` (columns `columns`); on a conflict on `key`, updates every
    /// column (`update`) or does nothing. Returns whether a row was written.
    @discardableResult
    private func put<T: Encodable>(_ record: T, into table: String, columns: [String], key: [String]?, update: Bool) throws -> Bool {
        let encoder = JSONEncoder()
        let json = String(decoding: try encoder.encode(record), as: UTF8.self)
        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        var sql = "INSERT INTO \(table) (\(list)) SELECT \(list) FROM json_populate_record(NULL::\(table), $1::json)"
        if let key {
            let keys = key.map { "\"\($0)\"" }.joined(separator: ", ")
            let sets = columns.filter { !key.contains($0) }.map { "\"\($0)\" = EXCLUDED.\"\($0)\"" }.joined(separator: ", ")
            sql += update && !sets.isEmpty ? " ON CONFLICT (\(keys)) DO UPDATE SET \(sets)" : " ON CONFLICT (\(keys)) DO NOTHING"
        }
        sql += " RETURNING 'ok'"
        return try !exec(sql, [.text(json)]).isEmpty
    }

    /// One transaction under the store's lock; rolled back if `body` throws.
    private func transaction<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            try exec("BEGIN")
            do {
                let value = try body()
                try exec("COMMIT")
                return value
            } catch {
                _ = try? exec("ROLLBACK")
                throw error
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            return "\(e.code)"
        }
        return "\(error)"
    }

    // MARK: - Schema

    static let columns: [String: [String]] = [
        "runs": [
            "id", "pipeline", "pipelineFile", "pipelineDigest", "status", "actor", "commitID", "branch", "version", "workspace", "pid", "host",
            "partial", "selection", "git", "startedAt", "finishedAt",
        ],
        "jobs": ["runID", "id", "status", "record", "finishedAt", "durationMs"],
        "attempts": ["runID", "job", "attempt", "status", "reason", "at"],
        "gates": [
            "runID", "job", "environment", "commitID", "pipelineDigest", "artifacts", "status", "decision", "requestedBy", "requestedAt", "updatedAt",
        ],
        "approvals": ["digest", "decision", "approver", "environment", "commitID", "runID", "issuedAt", "expiresAt", "statement", "recordedAt"],
        "deployments": [
            "release", "environment", "runID", "job", "version", "commitID", "artifacts", "files", "status", "approvedBy", "actor", "detail", "rollbackOf",
            "pid", "host", "startedAt", "finishedAt", "policy",
        ],
        "audit": ["seq", "at", "kind", "actor", "environment", "runID", "detail", "prevHash", "hash"],
        "locks": ["name", "runID", "job", "actor", "pid", "host", "acquiredAt"],
    ]

    static let v1 = """
        CREATE TABLE runs ("id" text PRIMARY KEY, "pipeline" text NOT NULL, "pipelineFile" text NOT NULL, "pipelineDigest" text NOT NULL,
          "status" text NOT NULL, "actor" text NOT NULL, "commitID" text, "branch" text, "version" text, "workspace" text NOT NULL,
          "pid" bigint NOT NULL, "host" text NOT NULL, "partial" boolean NOT NULL DEFAULT false, "selection" text, "git" text,
          "startedAt" text NOT NULL, "finishedAt" text);
        CREATE TABLE jobs ("runID" text NOT NULL REFERENCES runs ON DELETE CASCADE, "id" text NOT NULL, "status" text NOT NULL,
          "record" text NOT NULL, "finishedAt" text, PRIMARY KEY ("runID", "id"));
        CREATE TABLE attempts ("runID" text NOT NULL REFERENCES runs ON DELETE CASCADE, "job" text NOT NULL, "attempt" bigint NOT NULL,
          "status" text NOT NULL, "reason" text, "at" text NOT NULL, PRIMARY KEY ("runID", "job", "attempt"));
        CREATE TABLE gates ("runID" text NOT NULL REFERENCES runs ON DELETE CASCADE, "job" text NOT NULL, "environment" text NOT NULL,
          "commitID" text, "pipelineDigest" text NOT NULL, "artifacts" text NOT NULL, "status" text NOT NULL, "decision" text NOT NULL,
          "requestedBy" text NOT NULL, "requestedAt" text NOT NULL, "updatedAt" text NOT NULL, PRIMARY KEY ("runID", "job"));
        CREATE TABLE approvals ("id" bigserial PRIMARY KEY, "digest" text NOT NULL UNIQUE, "decision" text NOT NULL, "approver" text NOT NULL,
          "environment" text NOT NULL, "commitID" text NOT NULL, "runID" text NOT NULL, "issuedAt" text NOT NULL, "expiresAt" text NOT NULL,
          "statement" text NOT NULL, "recordedAt" text NOT NULL);
        CREATE INDEX approvals_env_commit ON approvals ("environment", "commitID");
        CREATE TABLE deployments ("release" text PRIMARY KEY, "environment" text NOT NULL, "runID" text NOT NULL, "job" text NOT NULL,
          "version" text, "commitID" text, "artifacts" text NOT NULL, "files" text NOT NULL, "status" text NOT NULL, "approvedBy" text NOT NULL,
          "actor" text NOT NULL, "detail" text, "rollbackOf" text, "pid" bigint NOT NULL, "host" text NOT NULL, "startedAt" text NOT NULL,
          "finishedAt" text);
        CREATE INDEX deployments_env ON deployments ("environment", "startedAt");
        CREATE TABLE audit ("seq" bigint PRIMARY KEY, "at" text NOT NULL, "kind" text NOT NULL, "actor" text NOT NULL, "environment" text,
          "runID" text, "detail" text NOT NULL, "prevHash" text NOT NULL, "hash" text NOT NULL);
        CREATE TABLE locks ("name" text PRIMARY KEY, "runID" text NOT NULL, "job" text NOT NULL, "actor" text NOT NULL, "pid" bigint NOT NULL,
          "host" text NOT NULL, "acquiredAt" text NOT NULL)
        """

    /// Applies each schema version once, even when many runners start together.
    private func migrate() throws {
        try transaction {
            try exec("SELECT pg_advisory_xact_lock(\(Self.migrationLock))::text")
            try exec("CREATE TABLE IF NOT EXISTS shipgate_schema (\"version\" text PRIMARY KEY, \"appliedAt\" text NOT NULL)")
            let applied = Set(try exec("SELECT \"version\" FROM shipgate_schema").compactMap { $0 })
            if !applied.contains("v1") {
                for statement in Self.v1.split(separator: ";") { try exec(String(statement)) }
                try exec("INSERT INTO shipgate_schema VALUES ('v1', $1)", [.text(StateTime.string(Date()))])
            }
            // v2: for the console: indexes for its listings (newest runs, blocked gates, releases
            // by status) and job durations as a column, so metrics need not parse every record.
            if !applied.contains("v2") {
                try exec("CREATE INDEX runs_started ON runs (\"startedAt\")")
                try exec("CREATE INDEX gates_status ON gates (\"status\")")
                try exec("ALTER TABLE jobs ADD COLUMN \"durationMs\" bigint")
                try exec("UPDATE jobs SET \"durationMs\" = (record::json->>'durationMs')::bigint")
                try exec("CREATE INDEX jobs_status_duration ON jobs (\"status\", \"durationMs\")")
                try exec("CREATE INDEX deployments_env_status ON deployments (\"environment\", \"status\", \"startedAt\")")
                try exec("CREATE INDEX deployments_started ON deployments (\"startedAt\")")
                try exec("INSERT INTO shipgate_schema VALUES ('v2', $1)", [.text(StateTime.string(Date()))])
            }
            // v3: the trusted policy each release was made under (nil: never a rollback target).
            if !applied.contains("v3") {
                try exec("ALTER TABLE deployments ADD COLUMN \"policy\" text")
                try exec("INSERT INTO shipgate_schema VALUES ('v3', $1)", [.text(StateTime.string(Date()))])
            }
        }
    }

    // MARK: - Runs

    public func beginRun(_ run: RunRow) throws {
        try transaction {
            // Serializes takeovers of one run across runners: two resumes cannot both win.
            try exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))::text", [.text(run.id)])
            if var existing = try rows(RunRow.self, "SELECT * FROM runs WHERE \"id\" = $1", [.text(run.id)]).first {
                if existing.status == "running", ProcessLiveness.isAlive(pid: existing.pid, host: existing.host) {
                    throw PostgresStoreError.query("run \(run.id) is already running (pid \(existing.pid) on \(existing.host))")
                }
                existing.status = "running"
                existing.pid = run.pid
                existing.host = run.host
                existing.finishedAt = nil
                try put(existing, into: "runs", columns: Self.columns["runs"]!, key: ["id"], update: true)
            } else {
                try put(run, into: "runs", columns: Self.columns["runs"]!, key: nil, update: false)
            }
        }
    }

    public func finishRun(_ id: String, status: String, at: Date) throws {
        try transaction {
            try exec("UPDATE runs SET \"status\" = $1, \"finishedAt\" = $2 WHERE \"id\" = $3", [.text(status), .text(StateTime.string(at)), .text(id)])
        }
    }

    public func save(jobs: [JobRow], attempts: [AttemptRow]) throws {
        try transaction {
            for j in jobs { try put(j, into: "jobs", columns: Self.columns["jobs"]!, key: ["runID", "id"], update: true) }
            for a in attempts { try put(a, into: "attempts", columns: Self.columns["attempts"]!, key: ["runID", "job", "attempt"], update: true) }
        }
    }

    public func run(_ id: String) throws -> RunRow? {
        try lock.withLock { try rows(RunRow.self, "SELECT * FROM runs WHERE \"id\" = $1", [.text(id)]).first }
    }

    public func jobs(ofRun id: String) throws -> [JobRow] {
        try lock.withLock { try rows(JobRow.self, "SELECT * FROM jobs WHERE \"runID\" = $1", [.text(id)]) }
    }

    public func attempts(ofRun id: String) throws -> [AttemptRow] {
        try lock.withLock { try rows(AttemptRow.self, "SELECT * FROM attempts WHERE \"runID\" = $1 ORDER BY \"job\", \"attempt\"", [.text(id)]) }
    }

    public func runs(limit: Int) throws -> [RunRow] { try runs(limit: limit, offset: 0) }

    public func runs(limit: Int, offset: Int) throws -> [RunRow] {
        try lock.withLock {
            try rows(RunRow.self, "SELECT * FROM runs ORDER BY \"startedAt\" DESC, \"id\" DESC LIMIT \(max(0, limit)) OFFSET \(max(0, offset))")
        }
    }

    public func metrics() throws -> StateMetrics {
        try lock.withLock {
            try StateMetrics.collect { try exec($0) }
        }
    }

    public func findRun(_ prefix: String) throws -> RunRow? {
        try lock.withLock {
            if prefix == "last" { return try rows(RunRow.self, "SELECT * FROM runs ORDER BY \"startedAt\" DESC, \"id\" DESC LIMIT 1").first }
            if let exact = try rows(RunRow.self, "SELECT * FROM runs WHERE \"id\" = $1", [.text(prefix)]).first { return exact }
            let matches = try rows(RunRow.self, "SELECT * FROM runs WHERE starts_with(\"id\", $1) ORDER BY \"id\" DESC LIMIT 2", [.text(prefix)])
            return matches.count == 1 ? matches[0] : nil
        }
    }

    public func markInterrupted() throws -> [String] {
        try transaction {
            var marked: [String] = []
            for run in try rows(RunRow.self, "SELECT * FROM runs WHERE \"status\" = 'running' AND \"host\" = $1", [.text(ProcessLiveness.host)])
            where !ProcessLiveness.isAlive(pid: run.pid, host: run.host) {
                try exec("UPDATE runs SET \"status\" = 'interrupted' WHERE \"id\" = $1 AND \"status\" = 'running'", [.text(run.id)])
                marked.append(run.id)
            }
            for d in try rows(
                DeploymentRow.self, "SELECT * FROM deployments WHERE \"status\" IN ('deploying', 'verifying', 'rolling-back') AND \"host\" = $1",
                [.text(ProcessLiveness.host)])
            where !ProcessLiveness.isAlive(pid: d.pid, host: d.host) {
                try exec(
                    "UPDATE deployments SET \"status\" = 'interrupted', \"finishedAt\" = $1, \"detail\" = $2 WHERE \"release\" = $3",
                    [.text(StateTime.string(Date())), .text("shipgate stopped while the deploy was \(d.status)"), .text(d.release)])
            }
            return marked
        }
    }

    // MARK: - Gates and approvals

    public func saveGate(_ gate: GateRow) throws {
        try transaction {
            var row = gate
            if let old = try rows(GateRow.self, "SELECT * FROM gates WHERE \"runID\" = $1 AND \"job\" = $2", [.text(gate.runID), .text(gate.job)]).first {
                row.requestedAt = old.requestedAt
            }
            try put(row, into: "gates", columns: Self.columns["gates"]!, key: ["runID", "job"], update: true)
        }
    }

    public func gates(ofRun id: String) throws -> [GateRow] {
        try lock.withLock { try rows(GateRow.self, "SELECT * FROM gates WHERE \"runID\" = $1", [.text(id)]) }
    }

    public func blockedGates() throws -> [GateRow] {
        try lock.withLock { try rows(GateRow.self, "SELECT * FROM gates WHERE \"status\" = 'blocked' ORDER BY \"requestedAt\" DESC") }
    }

    public func saveApproval(_ approval: ApprovalRow) throws -> Bool {
        try transaction { try put(approval, into: "approvals", columns: Self.columns["approvals"]!, key: ["digest"], update: false) }
    }

    /// The audit lock first (as every audit append takes it), then the statement, then the entry.
    public func saveApproval(_ approval: ApprovalRow, audit event: AuditEvent) throws -> AuditRow? {
        try transaction {
            try exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
            guard try put(approval, into: "approvals", columns: Self.columns["approvals"]!, key: ["digest"], update: false) else { return nil }
            let row = event.row(after: try rows(AuditRow.self, "SELECT * FROM audit ORDER BY \"seq\" DESC LIMIT 1").first)
            try put(row, into: "audit", columns: Self.columns["audit"]!, key: nil, update: false)
            return row
        }
    }

    public func approvals(environment: String, commitID: String) throws -> [ApprovalRow] {
        try lock.withLock {
            try rows(
                ApprovalRow.self, "SELECT * FROM approvals WHERE \"environment\" = $1 AND \"commitID\" = $2 ORDER BY \"issuedAt\", \"id\"",
                [.text(environment), .text(commitID)])
        }
    }

    public func allApprovals() throws -> [ApprovalRow] {
        try lock.withLock { try rows(ApprovalRow.self, "SELECT * FROM approvals ORDER BY \"issuedAt\", \"id\"") }
    }

    public func approvals(runID: String) throws -> [ApprovalRow] {
        try lock.withLock { try rows(ApprovalRow.self, "SELECT * FROM approvals WHERE \"runID\" = $1 ORDER BY \"issuedAt\"", [.text(runID)]) }
    }

    // MARK: - Deployments

    public func saveDeployment(_ d: DeploymentRow) throws {
        try transaction { try put(d, into: "deployments", columns: Self.columns["deployments"]!, key: ["release"], update: true) }
    }

    public func updateDeployment(_ release: String, status: String, detail: String?, finished: Bool, at: Date) throws {
        try transaction {
            try exec(
                "UPDATE deployments SET \"status\" = $1, \"detail\" = COALESCE($2, \"detail\"), \"finishedAt\" = $3 WHERE \"release\" = $4",
                [.text(status), .text(detail), .text(finished ? StateTime.string(at) : nil), .text(release)])
        }
    }

    public func deployments(environment: String?, status: String?, commitID: String?, limit: Int) throws -> [DeploymentRow] {
        var conditions: [String] = []
        var binds: [Bind] = []
        for (column, value) in [("environment", environment), ("status", status), ("commitID", commitID)] {
            guard let value else { continue }
            binds.append(.text(value))
            conditions.append("\"\(column)\" = $\(binds.count)")
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try lock.withLock {
            try rows(DeploymentRow.self, "SELECT * FROM deployments\(filter) ORDER BY \"startedAt\" DESC, \"release\" DESC LIMIT \(max(0, limit))", binds)
        }
    }

    public func deployment(_ release: String) throws -> DeploymentRow? {
        try lock.withLock { try rows(DeploymentRow.self, "SELECT * FROM deployments WHERE \"release\" = $1", [.text(release)]).first }
    }

    // MARK: - Audit

    public func appendAudit(kind: String, actor: String, environment: String?, runID: String?, detail: String, at: Date) throws -> AuditRow {
        try transaction {
            try exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
            let last = try rows(AuditRow.self, "SELECT * FROM audit ORDER BY \"seq\" DESC LIMIT 1").first
            let row = AuditRow.next(after: last, kind: kind, actor: actor, environment: environment, runID: runID, detail: detail, at: at)
            try put(row, into: "audit", columns: Self.columns["audit"]!, key: nil, update: false)
            return row
        }
    }

    public func importAudit(_ rows: [AuditRow]) throws {
        try transaction {
            try exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
            guard try exec("SELECT count(*)::text FROM audit").first == "0" else {
                throw PostgresStoreError.query("the audit log is not empty; refusing to import into it")
            }
            for row in rows { try put(row, into: "audit", columns: Self.columns["audit"]!, key: nil, update: false) }
        }
    }

    public func auditEntries(environment: String?, afterSeq: Int64) throws -> [AuditRow] {
        try lock.withLock {
            if let environment {
                return try rows(
                    AuditRow.self, "SELECT * FROM audit WHERE \"seq\" > $1 AND \"environment\" = $2 ORDER BY \"seq\"", [.int(afterSeq), .text(environment)])
            }
            return try rows(AuditRow.self, "SELECT * FROM audit WHERE \"seq\" > $1 ORDER BY \"seq\"", [.int(afterSeq)])
        }
    }

    public func latestAudit(limit: Int, environment: String?) throws -> [AuditRow] {
        try lock.withLock {
            if let environment {
                return try rows(
                    AuditRow.self, "SELECT * FROM audit WHERE \"environment\" = $1 ORDER BY \"seq\" DESC LIMIT \(max(0, limit))", [.text(environment)])
            }
            return try rows(AuditRow.self, "SELECT * FROM audit ORDER BY \"seq\" DESC LIMIT \(max(0, limit))")
        }
    }

    // MARK: - Locks

    public func tryLock(_ names: [String], holder: LockRow) throws -> LockAttempt {
        try lock.withLock {
            var holders: [LockRow] = []
            for name in names {
                let current = try rows(LockRow.self, "SELECT * FROM locks WHERE \"name\" = $1", [.text(name)]).first
                if heldHere.contains(name) {
                    holders.append(current ?? holder)
                    continue
                }
                let got = try exec("SELECT pg_try_advisory_lock(hashtextextended($1, 0))::text", [.text(name)]).first ?? nil
                guard got == "true" else {
                    var unknown = holder
                    unknown.name = name
                    unknown.runID = "?"
                    holders.append(current ?? unknown)
                    continue
                }
                heldHere.insert(name)
                var mine = holder
                mine.name = name
                try exec("BEGIN")
                do {
                    try exec("DELETE FROM locks WHERE \"name\" = $1", [.text(name)])
                    try put(mine, into: "locks", columns: Self.columns["locks"]!, key: nil, update: false)
                    try exec("COMMIT")
                } catch {
                    _ = try? exec("ROLLBACK")
                    _ = try? exec("SELECT pg_advisory_unlock(hashtextextended($1, 0))::text", [.text(name)])
                    heldHere.remove(name)
                    throw error
                }
                // A row left behind means its holder's session ended without unlocking.
                return .acquired(stale: current)
            }
            return .held(by: holders.first!)
        }
    }

    public func unlock(_ names: [String], runID: String, job: String) throws {
        try lock.withLock {
            for name in names where heldHere.contains(name) {
                try exec("DELETE FROM locks WHERE \"name\" = $1 AND \"runID\" = $2 AND \"job\" = $3", [.text(name), .text(runID), .text(job)])
                try exec("SELECT pg_advisory_unlock(hashtextextended($1, 0))::text", [.text(name)])
                heldHere.remove(name)
            }
        }
    }

    public func locks() throws -> [LockRow] { try lock.withLock { try rows(LockRow.self, "SELECT * FROM locks") } }
}
