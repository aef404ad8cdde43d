import Foundation
import GRDB

/// One row of `runs`: who ran which pipeline at which commit, and how it ended.
public struct RunRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "runs"
    public var id: String
    public var pipeline: String
    public var pipelineFile: String
    public var pipelineDigest: String
    /// `running`, `success`, `failed`, `blocked`, `cancelled`, `interrupted`.
    public var status: String
    public var actor: String
    public var commitID: String?
    public var branch: String?
    public var version: String?
    public var workspace: String
    public var pid: Int64
    public var host: String
    public var partial: Bool
    /// The `--job` values as a JSON array, for `resume`; nil: every job.
    public var selection: String?
    /// The `${{ git.KEY }}` values as a JSON object.
    public var git: String?
    public var startedAt: String
    public var finishedAt: String?

    public init(
        id: String, pipeline: String, pipelineFile: String, pipelineDigest: String, status: String, actor: String, commitID: String?,
        branch: String?, version: String?, workspace: String, pid: Int64 = Int64(getpid()), host: String = ProcessLiveness.host,
        partial: Bool = false, selection: String? = nil, git: String? = nil, startedAt: String, finishedAt: String? = nil
    ) {
        self.id = id
        self.pipeline = pipeline
        self.pipelineFile = pipelineFile
        self.pipelineDigest = pipelineDigest
        self.status = status
        self.actor = actor
        self.commitID = commitID
        self.branch = branch
        self.version = version
        self.workspace = workspace
        self.pid = pid
        self.host = host
        self.partial = partial
        self.selection = selection
        self.git = git
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// A finished (or blocked) job of a run; `record` is the engine's `JobResult` as JSON.
public struct JobRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "jobs"
    public var runID: String
    public var id: String
    public var status: String
    public var record: String
    public var finishedAt: String?
    /// The job's duration, also in `record`: a column so aggregates (the console's metrics)
    /// need not parse every record.
    public var durationMs: Int64?

    public init(runID: String, id: String, status: String, record: String, finishedAt: String?, durationMs: Int64? = nil) {
        self.runID = runID
        self.id = id
        self.status = status
        self.record = record
        self.finishedAt = finishedAt
        self.durationMs = durationMs
    }
}

public struct AttemptRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "attempts"
    public var runID: String
    public var job: String
    public var attempt: Int
    public var status: String
    public var reason: String?
    public var at: String

    public init(runID: String, job: String, attempt: Int, status: String, reason: String?, at: String) {
        self.runID = runID
        self.job = job
        self.attempt = attempt
        self.status = status
        self.reason = reason
        self.at = at
    }
}

extension SQLiteStateStore {
    /// Inserts a new run, or (for `resume`) takes over an existing one: status back to
    /// `running`, this process as its owner.
    public func beginRun(_ run: RunRow) async throws {
        try write { db in
            if var existing = try RunRow.fetchOne(db, key: run.id) {
                // Taking a run over is atomic (one write transaction): two resumes cannot both win.
                if existing.status == "running", ProcessLiveness.isAlive(pid: existing.pid, host: existing.host) {
                    throw StateError.database("run \(run.id) is already running (pid \(existing.pid) on \(existing.host))")
                }
                existing.status = "running"
                existing.pid = run.pid
                existing.host = run.host
                existing.finishedAt = nil
                try existing.update(db)
            } else {
                try run.insert(db)
            }
        }
    }

    public func finishRun(_ id: String, status: String, at: Date) async throws {
        try write { db in
            try db.execute(sql: "UPDATE runs SET status = ?, finishedAt = ? WHERE id = ?", arguments: [status, StateTime.string(at), id])
        }
    }

    /// Stores finished jobs and failed attempts in one transaction.
    public func save(jobs: [JobRow], attempts: [AttemptRow]) async throws {
        try write { db in
            for job in jobs { try job.insert(db, onConflict: .replace) }
            for attempt in attempts { try attempt.insert(db, onConflict: .replace) }
        }
    }

    public func run(_ id: String) async throws -> RunRow? { try read { db in try RunRow.fetchOne(db, key: id) } }

    public func jobs(ofRun id: String) async throws -> [JobRow] {
        try read { db in try JobRow.filter(Column("runID") == id).fetchAll(db) }
    }

    public func attempts(ofRun id: String) async throws -> [AttemptRow] {
        try read { db in try AttemptRow.filter(Column("runID") == id).order(Column("job"), Column("attempt")).fetchAll(db) }
    }

    /// Newest first.
    public func runs(limit: Int) async throws -> [RunRow] { try await runs(limit: limit, offset: 0) }

    public func runs(limit: Int, offset: Int) async throws -> [RunRow] {
        try read { db in try RunRow.order(Column("startedAt").desc, Column("id").desc).limit(limit, offset: offset).fetchAll(db) }
    }

    /// The newest run whose id starts with `prefix` (`last` names the newest run of all).
    public func findRun(_ prefix: String) async throws -> RunRow? {
        try read { db in
            if prefix == "last" { return try RunRow.order(Column("startedAt").desc, Column("id").desc).fetchOne(db) }
            if let exact = try RunRow.fetchOne(db, key: prefix) { return exact }
            let matches = try RunRow.filter(Column("id").like(prefix + "%")).order(Column("id").desc).limit(2).fetchAll(db)
            return matches.count == 1 ? matches[0] : nil
        }
    }

    /// Marks runs whose process is gone as `interrupted`, and deployments of such runs still
    /// marked `deploying` likewise. Returns the ids of the runs it marked.
    @discardableResult
    public func markInterrupted() async throws -> [String] {
        try write { db in
            var marked: [String] = []
            for run in try RunRow.filter(Column("status") == "running").fetchAll(db)
            where !ProcessLiveness.isAlive(pid: run.pid, host: run.host) {
                try db.execute(sql: "UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'", arguments: [run.id])
                marked.append(run.id)
            }
            for d in try DeploymentRow.filter(Column("status") == "deploying" || Column("status") == "verifying" || Column("status") == "rolling-back")
                .fetchAll(db) where !ProcessLiveness.isAlive(pid: d.pid, host: d.host)
            {
                try db.execute(
                    sql: "UPDATE deployments SET status = 'interrupted', finishedAt = ?, detail = ? WHERE release = ?",
                    arguments: [StateTime.string(Date()), "shipgate stopped while the deploy was \(d.status)", d.release])
            }
            return marked
        }
    }
}

extension RunRow {
    /// The run's pipeline file on this machine: the recorded path when it exists, else the same
    /// path relative to the checkout at `root` (the run was recorded on another runner sharing
    /// the state store, or in another clone).
    public func pipelineFile(inCheckout root: String) -> String {
        if FileManager.default.fileExists(atPath: pipelineFile) { return pipelineFile }
        let relative =
            pipelineFile.hasPrefix(workspace + "/") ? String(pipelineFile.dropFirst(workspace.count + 1)) : (pipelineFile as NSString).lastPathComponent
        return (root as NSString).appendingPathComponent(relative)
    }
}
