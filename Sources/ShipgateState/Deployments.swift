import Foundation
import GRDB

/// One release: a deploy job's attempt to put a commit and its artifacts into an environment.
public struct DeploymentRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "deployments"
    public var release: String
    public var environment: String
    public var runID: String
    public var job: String
    public var version: String?
    public var commitID: String?
    /// JSON object: job id → artifact manifest digest (what the approval bound).
    public var artifacts: String
    /// JSON array of the artifact files (path, mode, digest): what a rollback restores.
    public var files: String
    /// `deploying`, `verifying`, `success`, `failed`, `rolled-back`, `rollback-failed`,
    /// `rolling-back`, `interrupted`.
    public var status: String
    /// Comma-separated approver names the gate counted.
    public var approvedBy: String
    public var actor: String
    public var detail: String?
    /// For a manual rollback: the release it returned to.
    public var rollbackOf: String?
    public var pid: Int64
    public var host: String
    public var startedAt: String
    public var finishedAt: String?
    /// The trusted policy the release was made under: `REF@COMMIT sha256:DIGEST` (the trusted
    /// ref's commit and the digest of the rules and keyring enforced). Nil when the environment
    /// was not in the trusted policy, outside a git repository, or recorded before schema v3:
    /// such a release is history only, never a rollback or `promote-from` target.
    public var policy: String?

    public init(
        release: String, environment: String, runID: String, job: String, version: String?, commitID: String?, artifacts: String,
        files: String, status: String, approvedBy: String, actor: String, detail: String? = nil, rollbackOf: String? = nil,
        pid: Int64 = Int64(getpid()), host: String = ProcessLiveness.host, startedAt: String, finishedAt: String? = nil,
        policy: String? = nil
    ) {
        self.policy = policy
        self.release = release
        self.environment = environment
        self.runID = runID
        self.job = job
        self.version = version
        self.commitID = commitID
        self.artifacts = artifacts
        self.files = files
        self.status = status
        self.approvedBy = approvedBy
        self.actor = actor
        self.detail = detail
        self.rollbackOf = rollbackOf
        self.pid = pid
        self.host = host
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// Verified and still standing (or standing until something newer replaced it).
    public var isGood: Bool { releaseStatus == .success }

    /// A good release made under the trusted policy: what rollbacks return to and what
    /// `promote-from` accepts.
    public var countsAsTarget: Bool { isGood && policy != nil }
}

extension SQLiteStateStore {
    public func saveDeployment(_ d: DeploymentRow) async throws {
        try write { db in try d.insert(db, onConflict: .replace) }
    }

    public func updateDeployment(_ release: String, status: String, detail: String?, finished: Bool, at: Date) async throws {
        try write { db in
            try db.execute(
                sql: "UPDATE deployments SET status = ?, detail = COALESCE(?, detail), finishedAt = ? WHERE release = ?",
                arguments: [status, detail, finished ? StateTime.string(at) : nil, release])
        }
    }

    /// Releases of an environment, newest first.
    public func deployments(environment: String?, status: String?, commitID: String?, limit: Int) async throws -> [DeploymentRow] {
        try read { db in
            var q = DeploymentRow.all()
            if let environment { q = q.filter(Column("environment") == environment) }
            if let status { q = q.filter(Column("status") == status) }
            if let commitID { q = q.filter(Column("commitID") == commitID) }
            return try q.order(Column("startedAt").desc, Column("release").desc).limit(limit).fetchAll(db)
        }
    }

    public func deployment(_ release: String) async throws -> DeploymentRow? {
        try read { db in try DeploymentRow.fetchOne(db, key: release) }
    }
}
