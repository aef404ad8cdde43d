import Foundation
import ShipgateEngine
import ShipgateGate
import ShipgateState

/// A recorded gate evaluated again now, from what the state store holds: the approvals given
/// since it blocked, the clock against windows and freezes. For the release console, which
/// shows a release manager where a blocked deploy stands before `resume` checks it for real.
public enum LiveGate {
    public static func evaluate(gate: GateRow, run: RunRow, jobs: [JobRow], policy: TrustedPolicy, store: any StateStore, now: Date) -> GateDecision? {
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
        var promoted: String?
        if let from = env.promoteFrom?.value, let commit = gate.commitID {
            let wanted = DeployController.json(artifacts)
            promoted = (try? store.deployments(environment: from, status: "success", commitID: commit, limit: 100))?.first { $0.artifacts == wanted }?.release
        }
        var rows = (try? store.approvals(runID: run.id).filter { $0.environment == gate.environment }) ?? []
        if let commit = gate.commitID { rows += (try? store.approvals(environment: gate.environment, commitID: commit)) ?? [] }
        var seen = Set<String>()
        let statements = rows.compactMap(ApprovalRecords.statement).filter { seen.insert($0.digest).inserted }
        let git = run.git.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        let facts = GateFacts(
            request: request, branch: git["branch"].flatMap { $0.isEmpty ? nil : $0 } ?? run.branch,
            tags: git["tag"].flatMap { $0.isEmpty ? nil : [$0] } ?? [], hasGit: gate.commitID != nil, jobStatuses: statuses,
            promotedRelease: promoted, approvals: statements, keyring: policy.keyring, now: now, breakGlass: nil)
        var decision = GateEvaluator.evaluate(env, facts: facts)
        if let problem = policy.problem, env.isProtected {
            decision.rules.insert(.init(rule: "trusted-policy", passed: false, detail: problem), at: 0)
            decision.passed = false
        }
        return decision
    }
}
