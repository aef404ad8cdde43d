import Foundation
import ShipgateGate
import ShipgateGit
import ShipgateModel
import ShipgatePlanning
import ShipgateState

/// What each gate would decide now, for `plan`: rules that can be known before running
/// (branch, window, freeze, recorded approvals for this commit) are evaluated; those that
/// depend on the run (`requires`, artifact digests) are shown as checked at deploy time.
public enum GatePreviewer {
    public static func annotate(
        _ plan: ExecutionPlan, policy: TrustedPolicy, context: RunContext, store: (any StateStore)?, breakGlass: String?, now: Date
    ) async -> ExecutionPlan {
        var plan = plan
        let deployBefore = Set(plan.jobs.filter { $0.status != .skip }.compactMap { $0.deploy?.environment })
        for i in plan.jobs.indices where plan.jobs[i].status != .skip {
            guard let name = plan.jobs[i].deploy?.environment, let env = policy.environments[name] else { continue }
            guard env.isProtected else {
                plan.jobs[i].gate = GatePreview(environment: name, passed: true, rules: [], hints: [], policyNote: nil)
                continue
            }
            var statements: [ApprovalStatement] = []
            if let commit = context.git?.commit {
                statements = await ((try? store?.approvals(environment: name, commitID: commit)) ?? []).compactMap(ApprovalRecords.statement)
            }
            // The pipeline digest of any approval is the current one's only if the file is unchanged.
            let request = DeployRequest(
                runID: "", pipelineDigest: plan.pipeline.digest, environment: name, commit: context.git?.commit, artifacts: [:], actor: context.actor)
            var statuses: [String: [String]] = [:]
            for r in env.requires { statuses[r.value] = ["success"] }
            var promoted: String?
            if let from = env.promoteFrom?.value, let commit = context.git?.commit {
                promoted =
                    await (try? store?.deployments(environment: from, status: "success", commitID: commit, limit: 100))??.first(where: \.countsAsTarget)?
                    .release
                if promoted == nil, deployBefore.contains(from) { promoted = "deployed earlier in this run" }
            }
            var facts = GateFacts(
                request: request, branch: context.git?.branch, tags: context.git?.tags ?? [], hasGit: context.git != nil, jobStatuses: statuses,
                promotedRelease: promoted, approvals: statements, keyring: policy.keyring, now: now, breakGlass: breakGlass)
            facts.artifactsUnknown = true
            var decision = GateEvaluator.evaluate(env, facts: facts)
            for j in decision.rules.indices where decision.rules[j].rule == "requires" {
                decision.rules[j].detail = decision.rules[j].detail.replacingOccurrences(
                    of: "succeeded", with: "must succeed in this run (checked at deploy time)")
            }
            if let problem = policy.failure(for: name) {
                decision.rules.insert(.init(rule: "trusted-policy", passed: false, detail: problem), at: 0)
                decision.passed = false
            }
            var hints: [String] = []
            if decision.approvalsMissing > 0 {
                hints.append(
                    "needs \(decision.approvalsMissing) more approval\(decision.approvalsMissing == 1 ? "" : "s") after the run stops at this gate: shipgate approve RUN --env \(name) --key KEYFILE"
                )
            }
            if decision.failures.contains(where: { $0.rule == "window" || $0.rule == "freeze" }) {
                hints.append("wait for the window, or pass --break-glass REASON with one extra approval marked --break-glass")
            }
            let note = policy.notes.first { $0.contains("`\(name)`") } ?? policy.notes.first { $0.contains("keyring") }
            plan.jobs[i].gate = GatePreview(environment: name, passed: decision.passed, rules: decision.rules, hints: hints, policyNote: note)
            if !decision.passed {
                plan.jobs[i].status = .blocked
                plan.jobs[i].reason = "gate of \(name) would block: " + decision.failures.map(\.rule).joined(separator: ", ")
            }
        }
        return plan
    }
}
