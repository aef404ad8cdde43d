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

    /// Every statement a gate must check: those recorded for this run and environment, those
    /// for the commit (approvals carry over runs), and `imported` ones (`--approval`), each once.
    /// The gate checks each, so one for another commit or tampered with is reported, not
    /// silently ignored.
    public static func statements(
        store: any StateStore, runID: String, environment: String, commit: String?, imported: [ApprovalStatement] = []
    ) -> [ApprovalStatement] {
        var rows = (try? store.approvals(runID: runID).filter { $0.environment == environment }) ?? []
        if let commit { rows += (try? store.approvals(environment: environment, commitID: commit)) ?? [] }
        var seen = Set<String>()
        return (rows.compactMap(statement) + imported.filter { $0.environment == environment }).filter { seen.insert($0.digest).inserted }
    }
}
