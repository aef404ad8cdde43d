import Foundation

/// The durable state of shipgate, whatever holds it: SQLite in `.shipgate/state.db` (the
/// embedded default, `SQLiteStateStore`) or a PostgreSQL database that many runners share.
///
/// Contract for every implementation:
/// - each method is one transaction: after `kill -9` the store is as before or after it;
/// - `appendAudit` serializes appends across all writers, so the hash chain stays linear;
/// - `tryLock` grants each name to one live holder at a time, and a holder whose process is
///   gone loses it (reported as `stale`);
/// - `markInterrupted` marks runs and deploys whose process is known to be gone.
/// Methods are `async` and thread-safe: an implementation never blocks a thread of Swift
/// concurrency on the network. (SQLite answers from a local file, as every file read does, and
/// may wait up to its busy timeout for another process's write lock.)
public protocol StateStore: AnyObject, Sendable {
    /// Where the state lives, for messages (`/repo/.shipgate/state.db`, `postgres://db.internal/shipgate`).
    var location: String { get }

    func beginRun(_ run: RunRow) async throws
    func finishRun(_ id: String, status: String, at: Date) async throws
    /// Stores finished jobs and failed attempts in one transaction.
    func save(jobs: [JobRow], attempts: [AttemptRow]) async throws
    func run(_ id: String) async throws -> RunRow?
    func jobs(ofRun id: String) async throws -> [JobRow]
    func attempts(ofRun id: String) async throws -> [AttemptRow]
    /// Newest first.
    func runs(limit: Int) async throws -> [RunRow]
    /// The run an id, a unique prefix or `last` names.
    func findRun(_ prefix: String) async throws -> RunRow?
    @discardableResult func markInterrupted() async throws -> [String]

    func saveGate(_ gate: GateRow) async throws
    func gates(ofRun id: String) async throws -> [GateRow]
    /// Gates still waiting, newest first.
    func blockedGates() async throws -> [GateRow]
    /// False when this exact statement was recorded before.
    @discardableResult func saveApproval(_ approval: ApprovalRow) async throws -> Bool
    /// Records a statement and appends its audit entry in one transaction (serialized with
    /// every other audit append): both are stored or neither, so a statement whose audit entry
    /// cannot be written is never counted. Nil when this exact statement was recorded before
    /// (nothing is appended then).
    @discardableResult func saveApproval(_ approval: ApprovalRow, audit: AuditEvent) async throws -> AuditRow?
    func approvals(environment: String, commitID: String) async throws -> [ApprovalRow]
    func approvals(runID: String) async throws -> [ApprovalRow]
    /// Every recorded approval and rejection, oldest first (for `state migrate`).
    func allApprovals() async throws -> [ApprovalRow]

    func saveDeployment(_ d: DeploymentRow) async throws
    func updateDeployment(_ release: String, status: String, detail: String?, finished: Bool, at: Date) async throws
    /// Releases, newest first.
    func deployments(environment: String?, status: String?, commitID: String?, limit: Int) async throws -> [DeploymentRow]
    func deployment(_ release: String) async throws -> DeploymentRow?

    func appendAudit(kind: String, actor: String, environment: String?, runID: String?, detail: String, at: Date) async throws -> AuditRow
    /// Entries with `seq` greater than `afterSeq`, oldest first.
    func auditEntries(environment: String?, afterSeq: Int64) async throws -> [AuditRow]
    /// The newest `limit` entries, newest first.
    func latestAudit(limit: Int, environment: String?) async throws -> [AuditRow]
    /// Inserts entries verbatim (seq and hashes kept) into an empty audit log (for `state migrate`).
    func importAudit(_ rows: [AuditRow]) async throws

    /// Tries each of `names` (the slots of one lock) once; never waits.
    func tryLock(_ names: [String], holder: LockRow) async throws -> LockAttempt
    func unlock(_ names: [String], runID: String, job: String) async throws
    func locks() async throws -> [LockRow]

    /// Counts by status and job durations over the whole store (see `StateMetrics`).
    func metrics() async throws -> StateMetrics
    /// Runs newest first, `limit` of them after skipping `offset` (the console's run list).
    func runs(limit: Int, offset: Int) async throws -> [RunRow]
}

extension StateStore {
    public func finishRun(_ id: String, status: String) async throws { try await finishRun(id, status: status, at: Date()) }
    public func saveJob(_ job: JobRow) async throws { try await save(jobs: [job], attempts: []) }
    public func saveAttempt(_ attempt: AttemptRow) async throws { try await save(jobs: [], attempts: [attempt]) }
    public func runs() async throws -> [RunRow] { try await runs(limit: 20) }

    public func updateDeployment(_ release: String, status: String, detail: String?, finished: Bool) async throws {
        try await updateDeployment(release, status: status, detail: detail, finished: finished, at: Date())
    }

    /// Oldest first.
    public func auditEntries(environment: String?) async throws -> [AuditRow] { try await auditEntries(environment: environment, afterSeq: 0) }

    public func deployments(environment: String?) async throws -> [DeploymentRow] { try await deployments(environment: environment, limit: 100) }

    public func deployments(environment: String?, limit: Int) async throws -> [DeploymentRow] {
        try await deployments(environment: environment, status: nil, commitID: nil, limit: limit)
    }

    /// The newest good release of an environment made under the trusted policy, other than `excluding`.
    public func lastGood(environment: String, excluding: String? = nil) async throws -> DeploymentRow? {
        try await deployments(environment: environment, status: "success", commitID: nil, limit: 200).first { $0.release != excluding && $0.countsAsTarget }
    }

    /// The newest `keep(environment)` good releases of every environment (their artifacts are never pruned).
    public func retainedFiles(keep: (String) -> Int) async throws -> [DeploymentRow] {
        let all = try await deployments(environment: nil, limit: 100_000).filter(\.countsAsTarget)
        var counts: [String: Int] = [:]
        return all.filter { d in
            counts[d.environment, default: 0] += 1
            return counts[d.environment]! <= keep(d.environment)
        }
    }
}
