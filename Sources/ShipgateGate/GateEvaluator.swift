import Foundation
import ShipgateModel

/// Everything a gate decides on, gathered by the caller (state store, git, the run).
public struct GateFacts: Sendable {
    public var request: DeployRequest
    public var branch: String?
    public var tags: [String]
    /// False when the run has no git context: branch rules then fail closed.
    public var hasGit: Bool
    /// Declared job id → statuses of its jobs in this run (several for a matrix); absent: not run.
    public var jobStatuses: [String: [String]]
    /// For `promote-from`: a good release of the same commit and artifacts in that environment.
    public var promotedRelease: String?
    public var approvals: [ApprovalStatement]
    public var keyring: Keyring
    public var now: Date
    /// `--break-glass REASON`.
    public var breakGlass: String?
    /// For `plan`: artifacts are not built yet, so approvals are checked on everything else.
    public var artifactsUnknown = false

    public init(
        request: DeployRequest, branch: String?, tags: [String], hasGit: Bool, jobStatuses: [String: [String]], promotedRelease: String?,
        approvals: [ApprovalStatement], keyring: Keyring, now: Date, breakGlass: String?
    ) {
        self.request = request
        self.branch = branch
        self.tags = tags
        self.hasGit = hasGit
        self.jobStatuses = jobStatuses
        self.promotedRelease = promotedRelease
        self.approvals = approvals
        self.keyring = keyring
        self.now = now
        self.breakGlass = breakGlass
    }
}

/// The gate's answer: every rule with its verdict, and which approvals counted or not.
public struct GateDecision: Sendable, Codable, Equatable {
    public struct Refused: Sendable, Codable, Equatable {
        public var approver: String
        public var decision: String
        public var reason: String
        /// True when the signature did not verify: `approver` is then only what the statement claims.
        public var unverified: Bool?

        /// Who decided what, as people should read it: "approve by alice", or
        /// "unverified statement claiming alice (approve)" when the signature did not verify.
        public var summary: String {
            unverified == true ? "unverified statement claiming \(approver) (\(decision))" : "\(decision) by \(approver)"
        }
    }

    public var environment: String
    public var passed: Bool
    public var rules: [GateRuleVerdict]
    /// Approvers counted, in the order they approved.
    public var approvedBy: [String]
    public var refused: [Refused]
    /// Set when window or freeze rules were overridden.
    public var breakGlass: String?
    /// Approvals still needed (0 when enough).
    public var approvalsMissing: Int
    /// Approvers who could still approve (allowed, not the actor, not yet counted).
    public var canApprove: [String]

    public var failures: [GateRuleVerdict] { rules.filter { !$0.passed } }

    public init(
        environment: String, passed: Bool, rules: [GateRuleVerdict], approvedBy: [String], refused: [Refused], breakGlass: String?,
        approvalsMissing: Int, canApprove: [String]
    ) {
        self.environment = environment
        self.passed = passed
        self.rules = rules
        self.approvedBy = approvedBy
        self.refused = refused
        self.breakGlass = breakGlass
        self.approvalsMissing = approvalsMissing
        self.canApprove = canApprove
    }
}

/// Evaluates an environment's rules. Pure: the clock, the keyring and the approvals are inputs.
public enum GateEvaluator {
    /// Clock skew tolerated for an approval's issue time.
    public static let skew: TimeInterval = 300

    public static func evaluate(_ policy: EnvironmentPolicy, facts: GateFacts) -> GateDecision {
        var rules: [GateRuleVerdict] = []
        let req = facts.request

        if policy.branches != nil || policy.tags != nil {
            rules.append(branchVerdict(policy, facts))
        }
        for r in policy.requires {
            let statuses = facts.jobStatuses[r.value] ?? []
            if statuses.isEmpty {
                rules.append(.init(rule: "requires", passed: false, detail: "`\(r.value)` did not run in this run"))
            } else if statuses.allSatisfy({ $0 == "success" || $0 == "cached" }) {
                rules.append(.init(rule: "requires", passed: true, detail: "`\(r.value)` succeeded"))
            } else {
                let bad = statuses.first { $0 != "success" && $0 != "cached" }!
                rules.append(.init(rule: "requires", passed: false, detail: "`\(r.value)` did not succeed (\(bad))"))
            }
        }
        if let from = policy.promoteFrom?.value {
            if let release = facts.promotedRelease {
                rules.append(.init(rule: "promote-from", passed: true, detail: "this commit and artifacts verified in \(from) (release \(release))"))
            } else {
                rules.append(
                    .init(
                        rule: "promote-from", passed: false,
                        detail: "commit \(req.commit.map { String($0.prefix(12)) } ?? "(none)") with these artifacts has not deployed and verified in \(from)"))
            }
        }

        // Windows and freezes, which break-glass may override.
        var scheduleFailures: [GateRuleVerdict] = []
        if let w = policy.window {
            let v = ScheduleCheck.window(w, now: facts.now)
            if v.passed { rules.append(v) } else { scheduleFailures.append(v) }
        }
        for f in policy.freezes {
            let v = ScheduleCheck.freeze(f, defaultZone: policy.window?.timeZone, now: facts.now)
            if v.passed { rules.append(v) } else { scheduleFailures.append(v) }
        }
        var breakGlass: String?
        if !scheduleFailures.isEmpty {
            if let reason = facts.breakGlass {
                breakGlass = reason
                for v in scheduleFailures {
                    rules.append(.init(rule: v.rule, passed: true, detail: "overridden by break-glass (\(reason)): \(v.detail)"))
                }
            } else {
                rules += scheduleFailures
            }
        }

        // Approvals.
        var required = policy.approvals?.required ?? 0
        if breakGlass != nil { required += 1 }
        var approvedBy: [String] = []
        var refused: [GateDecision.Refused] = []
        var missing = 0
        var canApprove: [String] = []
        if required > 0 {
            let (counted, rejectedBy, problems) = countApprovals(policy, facts)
            refused = problems
            approvedBy = counted.map(\.approver)
            missing = max(0, required - counted.count)
            var detail = "\(counted.count) of \(required) approval\(required == 1 ? "" : "s")"
            if !approvedBy.isEmpty { detail += " (\(approvedBy.joined(separator: ", ")))" }
            var ok = missing == 0
            if breakGlass != nil, !counted.contains(where: { ($0.breakGlass ?? "").isEmpty == false }) {
                ok = false
                detail += "; break-glass needs one approval marked break-glass (approve --break-glass)"
                missing = max(missing, 1)
            }
            if let rejection = rejectedBy {
                detail += "; rejected by \(rejection.approver) at \(rejection.issuedAt)\(rejection.comment.map { ": \"\($0)\"" } ?? "")"
            }
            rules.append(.init(rule: "approvals", passed: ok, detail: detail))
            let allowed = policy.approvals?.from.isEmpty == false ? policy.approvals!.from : facts.keyring.keys.keys.sorted()
            canApprove = allowed.filter { name in
                !approvedBy.contains(name) && (!GateEvaluator.sameActor(name, req.actor) || policy.approvals?.allowSelfApproval == true)
            }
        } else if facts.breakGlass != nil {
            rules.append(.init(rule: "break-glass", passed: true, detail: "--break-glass given but no window or freeze applies now; nothing overridden"))
        }
        let passed = rules.allSatisfy(\.passed)
        return GateDecision(
            environment: policy.name, passed: passed, rules: rules, approvedBy: approvedBy, refused: refused, breakGlass: breakGlass,
            approvalsMissing: missing, canApprove: canApprove)
    }

    static func branchVerdict(_ policy: EnvironmentPolicy, _ facts: GateFacts) -> GateRuleVerdict {
        let wanted = ((policy.branches ?? []).map { "branch \($0.value)" } + (policy.tags ?? []).map { "tag \($0.value)" }).joined(separator: " or ")
        guard facts.hasGit else {
            return .init(rule: "branch", passed: false, detail: "no git context, so the branch cannot be checked (needs \(wanted))")
        }
        if let branch = facts.branch, let p = policy.branches?.first(where: { matches(branch, $0.value) }) {
            return .init(rule: "branch", passed: true, detail: "branch \(branch) matches \(p.value)")
        }
        for tag in facts.tags {
            if let p = policy.tags?.first(where: { matches(tag, $0.value) }) {
                return .init(rule: "branch", passed: true, detail: "tag \(tag) matches \(p.value)")
            }
        }
        let have = facts.branch.map { "branch \($0)" } ?? "a detached HEAD"
        return .init(
            rule: "branch", passed: false, detail: "\(have)\(facts.tags.isEmpty ? "" : " (tags \(facts.tags.joined(separator: ", ")))") is not \(wanted)")
    }

    static func matches(_ name: String, _ pattern: String) -> Bool {
        let glob = Glob(pattern)
        return glob.isLiteral ? name == pattern : glob.matches(name)
    }

    /// Checks every statement; returns the approvals that count (one per approver, issued
    /// after the latest valid rejection), that rejection, and why the others do not count.
    static func countApprovals(_ policy: EnvironmentPolicy, _ facts: GateFacts) -> (
        [ApprovalStatement], ApprovalStatement?, [GateDecision.Refused]
    ) {
        var valid: [ApprovalStatement] = []
        var refused: [GateDecision.Refused] = []
        for s in facts.approvals {
            if let problem = problem(with: s, policy: policy, facts: facts) {
                refused.append(
                    .init(approver: s.approver, decision: s.decision.rawValue, reason: problem.description, unverified: problem.isSignatureProblem ? true : nil)
                )
            } else {
                valid.append(s)
            }
        }
        let rejection = valid.filter { $0.decision == .reject }.max { ($0.issued ?? .distantPast) < ($1.issued ?? .distantPast) }
        var counted: [ApprovalStatement] = []
        for s in valid where s.decision == .approve {
            if let rejection, (s.issued ?? .distantPast) <= (rejection.issued ?? .distantPast) {
                refused.append(
                    .init(approver: s.approver, decision: "approve", reason: ApprovalProblem.supersededByRejection(by: rejection.approver).description))
                continue
            }
            if let i = counted.firstIndex(where: { $0.approver == s.approver }) {
                counted[i] = s  // one vote per approver; the latest stands
            } else {
                counted.append(s)
            }
        }
        return (counted, rejection, refused)
    }

    /// Why a statement does not count for this request, or nil when it does.
    public static func problem(with s: ApprovalStatement, policy: EnvironmentPolicy, facts: GateFacts) -> ApprovalProblem? {
        let req = facts.request
        // The approver's own key, or a trusted console vouching for a logged-in approver.
        if let problem = facts.keyring.signatureProblem(s) { return problem }
        if let from = policy.approvals?.from, !from.isEmpty, !from.contains(s.approver) { return .notAllowed(from: from) }
        if s.environment != req.environment { return .differentEnvironment(s.environment) }
        if s.commit != req.commit { return .differentCommit(s.commit) }
        if s.pipelineDigest != req.pipelineDigest { return .differentPipeline }
        if !facts.artifactsUnknown, s.artifacts != req.artifacts {
            let jobs = Set(s.artifacts.keys).union(req.artifacts.keys).filter { s.artifacts[$0] != req.artifacts[$0] }.sorted()
            return .artifactsChanged(jobs)
        }
        guard let issued = s.issued, let expires = s.expires else { return .badSignature }
        if issued.timeIntervalSince(facts.now) > skew { return .notYetValid }
        let policyExpiry = issued.addingTimeInterval(Double(policy.approvals?.expire.milliseconds ?? 86_400_000) / 1000)
        let end = min(expires, policyExpiry)
        if end <= facts.now { return .expired(at: GateTime.string(end)) }
        if s.decision == .approve, Self.sameActor(s.approver, req.actor), policy.approvals?.allowSelfApproval != true { return .selfApproval }
        return nil
    }

    /// Whether an approver name and a run's actor are the same person: compared without case
    /// and surrounding spaces, so `Release-Lead` cannot approve a run of `release-lead`.
    public static func sameActor(_ a: String, _ b: String) -> Bool {
        a.trimmingCharacters(in: .whitespaces).lowercased() == b.trimmingCharacters(in: .whitespaces).lowercased()
    }
}
