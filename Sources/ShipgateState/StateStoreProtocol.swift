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
/// Methods are synchronous and thread-safe.
public protocol StateStore: AnyObject, Sendable {
    /// Where the state lives, for messages (`/repo/.shipgate/state.db`, `postgres://db.internal/shipgate`).
    var location: String { get }

    func beginRun(_ run: RunRow) throws
    func finishRun(_ id: String, status: String, at: Date) throws
    /// Stores finished jobs and failed attempts in one transaction.
    func save(jobs: [JobRow], attempts: [AttemptRow]) throws
    func run(_ id: String) throws -> RunRow?
    func jobs(ofRun id: String) throws -> [JobRow]
    func attempts(ofRun id: String) throws -> [AttemptRow]
    /// Newest first.
    func runs(limit: Int) throws -> [RunRow]
    /// The run an id, a unique prefix or `last` names.
    func findRun(_ prefix: String) throws -> RunRow?
    @discardableResult func markInterrupted() throws -> [String]

    func saveGate(_ gate: GateRow) throws
    func gates(ofRun id: String) throws -> [GateRow]
    /// Gates still waiting, newest first.
    func blockedGates() throws -> [GateRow]
    /// False when this exact statement was recorded before.
    @discardableResult func saveApproval(_ approval: ApprovalRow) throws -> Bool
    /// Records a statement and appends its audit entry in one transaction (serialized with
    /// every other audit append): both are stored or neither, so a statement whose audit entry
    /// cannot be written is never counted. Nil when this exact statement was recorded before
    /// (nothing is appended then).
    @discardableResult func saveApproval(_ approval: ApprovalRow, audit: AuditEvent) throws -> AuditRow?
    func approvals(environment: String, commitID: String) throws -> [ApprovalRow]
    func approvals(runID: String) throws -> [ApprovalRow]
    /// Every recorded approval and rejection, oldest first (for `state migrate`).
    func allApprovals() throws -> [ApprovalRow]

    func saveDeployment(_ d: DeploymentRow) throws
    func updateDeployment(_ release: String, status: String, detail: String?, finished: Bool, at: Date) throws
    /// Releases, newest first.
    func deployments(environment: String?, status: String?, commitID: String?, limit: Int) throws -> [DeploymentRow]
    func deployment(_ release: String) throws -> DeploymentRow?

    func appendAudit(kind: String, actor: String, environment: String?, runID: String?, detail: String, at: Date) throws -> AuditRow
    /// Entries with `seq` greater than `afterSeq`, oldest first.
    func auditEntries(environment: String?, afterSeq: Int64) throws -> [AuditRow]
    /// The newest `limit` entries, newest first.
    func latestAudit(limit: Int, environment: String?) throws -> [AuditRow]
    /// Inserts entries verbatim (seq and hashes kept) into an empty audit log (for `state migrate`).
    func importAudit(_ rows: [AuditRow]) throws

    /// Tries each of `names` (the slots of one lock) once; never waits.
    func tryLock(_ names: [String], holder: LockRow) throws -> LockAttempt
    func unlock(_ names: [String], runID: String, job: String) throws
    func locks() throws -> [LockRow]

    /// Counts by status and job durations over the whole store (see `StateMetrics`).
    func metrics() throws -> StateMetrics
    /// Runs newest first, `limit` of them after skipping `offset` (the console's run list).
    func runs(limit: Int, offset: Int) throws -> [RunRow]
}

extension StateStore {
    public func finishRun(_ id: String, status: String) throws { try finishRun(id, status: status, at: Date()) }
    public func saveJob(_ job: JobRow) throws { try save(jobs: [job], attempts: []) }
    public func saveAttempt(_ attempt: AttemptRow) throws { try save(jobs: [], attempts: [attempt]) }
    public func runs() throws -> [RunRow] { try runs(limit: 20) }

    public func updateDeployment(_ release: String, status: String, detail: String?, finished: Bool) throws {
        try updateDeployment(release, status: status, detail: detail, finished: finished, at: Date())
    }

    /// Oldest first.
    public func auditEntries(environment: String?) throws -> [AuditRow] { try auditEntries(environment: environment, afterSeq: 0) }

    public func deployments(environment: String?) throws -> [DeploymentRow] { try deployments(environment: environment, limit: 100) }

    public func deployments(environment: String?, limit: Int) throws -> [DeploymentRow] {
        try deployments(environment: environment, status: nil, commitID: nil, limit: limit)
    }

    /// The newest good release of an environment made under the trusted policy, other than `excluding`.
    public func lastGood(environment: String, excluding: String? = nil) throws -> DeploymentRow? {
        try deployments(environment: environment, status: "success", commitID: nil, limit: 200).first { $0.release != excluding && $0.countsAsTarget }
    }

    /// The newest `keep(environment)` good releases of every environment (their artifacts are never pruned).
    public func retainedFiles(keep: (String) -> Int) throws -> [DeploymentRow] {
        let all = try deployments(environment: nil, limit: 100_000).filter(\.countsAsTarget)
        var counts: [String: Int] = [:]
        return all.filter { d in
            counts[d.environment, default: 0] += 1
            return counts[d.environment]! <= keep(d.environment)
        }
    }
}
