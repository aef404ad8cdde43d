import Foundation
import ShipgateEngine
import ShipgateGate
import ShipgateState

/// A recorded gate evaluated again now, from what the state store holds: the approvals given
/// since it blocked, the clock against windows and freezes. For the release console, which
/// shows a release manager where a blocked deploy stands before `resume` checks it for real.
public enum LiveGate {
    /// `approvals`: the statements recorded for this gate (`ApprovalRecords.statements`).
    public static func evaluate(
        gate: GateRow, run: RunRow, jobs: [JobRow], approvals: [ApprovalStatement], policy: TrustedPolicy, store: any StateStore, now: Date
    ) async -> GateDecision? {
        guard let env = policy.environments[gate.environment] else { return nil }
        let artifacts = (try? JSONDecoder().decode([String: String].self, from: Data(gate.artifacts.utf8))) ?? [:]
        let request = DeployRequest(
            runID: run.id, pipelineDigest: gate.pipelineDigest, environment: gate.environment, commit: gate.commitID, artifacts: artifacts,
            actor: run.actor)
        var statuses: [String: [String]] = [:]
        for j in jobs {
            // A matrix variant `build (os=linux)` counts for its declared job `build`.
            let declared = j.id.range(of: " (").map { String(j.id[..<$0.lowerBound]) } ?? j.id
            statuses[declared, default: []].append(j.status)
        }
        let git = run.git.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        let facts = GateFacts(
            request: request, branch: git["branch"].flatMap { $0.isEmpty ? nil : $0 } ?? run.branch,
            tags: git["tag"].flatMap { $0.isEmpty ? nil : [$0] } ?? [], hasGit: gate.commitID != nil, jobStatuses: statuses,
            promotedRelease: await DeployController.promotedRelease(store: store, env: env, request: request), approvals: approvals,
            keyring: policy.keyring, now: now, breakGlass: nil)
        return DeployController.evaluate(env, facts: facts, policy: policy)
    }
}
