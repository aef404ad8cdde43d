import Foundation
import GRDB

/// What a deploy job asked its environment's gate, and the latest decision. The approval
/// commands read it to know exactly what to sign (commit, pipeline, artifact digests).
public struct GateRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "gates"
    public var runID: String
    public var job: String
    public var environment: String
    public var commitID: String?
    public var pipelineDigest: String
    /// JSON object: needed job id → artifact manifest digest.
    public var artifacts: String
    /// `blocked`, `passed`.
    public var status: String
    /// The decision (rules and verdicts) as JSON.
    public var decision: String
    public var requestedBy: String
    public var requestedAt: String
    public var updatedAt: String

    public init(
        runID: String, job: String, environment: String, commitID: String?, pipelineDigest: String, artifacts: String, status: String,
        decision: String, requestedBy: String, requestedAt: String, updatedAt: String
    ) {
        self.runID = runID
        self.job = job
        self.environment = environment
        self.commitID = commitID
        self.pipelineDigest = pipelineDigest
        self.artifacts = artifacts
        self.status = status
        self.decision = decision
        self.requestedBy = requestedBy
        self.requestedAt = requestedAt
        self.updatedAt = updatedAt
    }
}

/// A signed approval or rejection, as recorded (the statement is kept verbatim and verified
/// again every time a gate counts it).
public struct ApprovalRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "approvals"
    public var id: Int64?
    /// SHA-256 of the statement: the same statement is recorded once.
    public var digest: String
    public var decision: String
    public var approver: String
    public var environment: String
    public var commitID: String
    public var runID: String
    public var issuedAt: String
    public var expiresAt: String
    public var statement: String
    public var recordedAt: String

    public init(
        digest: String, decision: String, approver: String, environment: String, commitID: String, runID: String, issuedAt: String,
        expiresAt: String, statement: String, recordedAt: String
    ) {
        self.digest = digest
        self.decision = decision
        self.approver = approver
        self.environment = environment
        self.commitID = commitID
        self.runID = runID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.statement = statement
        self.recordedAt = recordedAt
    }
}

extension SQLiteStateStore {
    public func saveGate(_ gate: GateRow) async throws {
        try write { db in
            var row = gate
            if let old = try GateRow.fetchOne(db, key: ["runID": gate.runID, "job": gate.job]) { row.requestedAt = old.requestedAt }
            try row.insert(db, onConflict: .replace)
        }
    }

    public func gates(ofRun id: String) async throws -> [GateRow] {
        try read { db in try GateRow.filter(Column("runID") == id).fetchAll(db) }
    }

    /// Gates still waiting, newest first.
    public func blockedGates() async throws -> [GateRow] {
        try read { db in try GateRow.filter(Column("status") == "blocked").order(Column("requestedAt").desc).fetchAll(db) }
    }

    /// Records an approval or rejection; false when this exact statement was recorded before.
    @discardableResult
    public func saveApproval(_ approval: ApprovalRow) async throws -> Bool {
        try write { db in
            if try ApprovalRow.filter(Column("digest") == approval.digest).fetchCount(db) > 0 { return false }
            try approval.insert(db)
            return true
        }
    }

    /// Records an approval and appends its audit entry in one transaction: both or neither.
    @discardableResult
    public func saveApproval(_ approval: ApprovalRow, audit event: AuditEvent) async throws -> AuditRow? {
        try write { db in
            if try ApprovalRow.filter(Column("digest") == approval.digest).fetchCount(db) > 0 { return nil }
            try approval.insert(db)
            let row = event.row(after: try AuditRow.order(Column("seq").desc).fetchOne(db))
            try row.insert(db)
            return row
        }
    }

    /// Approvals and rejections naming this environment and commit, oldest first.
    public func approvals(environment: String, commitID: String) async throws -> [ApprovalRow] {
        try read { db in
            try ApprovalRow.filter(Column("environment") == environment && Column("commitID") == commitID).order(Column("issuedAt"), Column("id"))
                .fetchAll(db)
        }
    }

    public func allApprovals() async throws -> [ApprovalRow] {
        try read { db in try ApprovalRow.order(Column("issuedAt"), Column("id")).fetchAll(db) }
    }

    public func approvals(runID: String) async throws -> [ApprovalRow] {
        try read { db in try ApprovalRow.filter(Column("runID") == runID).order(Column("issuedAt")).fetchAll(db) }
    }
}
