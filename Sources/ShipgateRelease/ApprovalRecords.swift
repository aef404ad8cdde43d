import Foundation
import ShipgateGate
import ShipgateState

/// Converting signed statements to and from state-store rows.
public enum ApprovalRecords {
    public static func row(_ s: ApprovalStatement, recordedAt: Date = Date()) -> ApprovalRow {
        ApprovalRow(
            digest: s.digest, decision: s.decision.rawValue, approver: s.approver, environment: s.environment, commitID: s.commit, runID: s.runID,
            issuedAt: s.issuedAt, expiresAt: s.expiresAt, statement: s.json(), recordedAt: StateTime.string(recordedAt))
    }

    public static func statement(_ row: ApprovalRow) -> ApprovalStatement? { try? ApprovalStatement.decode(Data(row.statement.utf8)) }
}
