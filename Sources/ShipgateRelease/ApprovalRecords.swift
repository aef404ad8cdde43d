import Foundation
import ShipgateGate
import ShipgateLoading
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
    ) async -> [ApprovalStatement] {
        var rows = await (try? store.approvals(runID: runID).filter { $0.environment == environment }) ?? []
        if let commit { await rows += (try? store.approvals(environment: environment, commitID: commit)) ?? [] }
        var seen = Set<String>()
        return (rows.compactMap(statement) + imported.filter { $0.environment == environment }).filter { seen.insert($0.digest).inserted }
    }
}

/// A recorded statement as people see it (`shipgate approvals`, its JSON, the console): an
/// approval or rejection by its approver only when its signature verifies against the keyring
/// gates use; otherwise an unverified statement that merely claims that approver.
public struct ShownStatement: Sendable {
    public var statement: ApprovalStatement
    /// Why the signature does not verify against the keyring; nil when it does.
    public var problem: ApprovalProblem?

    public init(_ statement: ApprovalStatement, keyring: Keyring) {
        self.statement = statement
        self.problem = keyring.signatureProblem(statement)
    }

    public var verified: Bool { problem == nil }
    /// "approved by alice", "REJECTED by alice", or "unverified statement claiming alice (approve)".
    public var label: String { statement.label(verified: verified) }

    /// JSON: verified statements name their `approver`; unverified ones only a `claimedApprover`
    /// and the `problem`, so no reader can take a forged name for an approval.
    public var jsonObject: [String: Any] {
        let s = statement
        var o: [String: Any] = ["decision": s.decision.rawValue, "issuedAt": s.issuedAt, "expiresAt": s.expiresAt, "verified": verified]
        if let problem {
            o["claimedApprover"] = s.approver
            o["problem"] = problem.description
        } else {
            o["approver"] = s.approver
        }
        return o
    }
}

extension ApprovalRecords {
    /// The keyring gates use for runs of `pipelineFile`: the trusted ref's keyring as
    /// `TrustedPolicy.load` reads it. Only where the file lives matters (the repository it is
    /// in), not what it declares, so this works for a file that no longer loads or is gone.
    public static func keyring(near pipelineFile: String, trustRef: String?, keyringPath: String) -> Keyring {
        let placeholder = "name: keyring\njobs:\n  keyring:\n    steps:\n      - run: \"true\"\n"
        guard let pipeline = PipelineLoader.load(text: placeholder, file: pipelineFile).pipeline else { return Keyring() }
        return TrustedPolicy.load(pipeline: pipeline, pipelinePath: pipelineFile, trustRef: trustRef, keyringPath: keyringPath).keyring
    }
}
