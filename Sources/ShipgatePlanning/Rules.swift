import ShipgateModel

/// What `when:` rules are decided on: the run's branch and tags, and the changed paths.
/// Built by the caller from the repository (the planner stays pure).
public struct RuleInputs: Sendable, Equatable {
    /// nil: no git context (`gitUnavailable` says why); branch and tag rules are not applied.
    public var branch: String?
    public var tags: [String]
    public var gitUnavailable: String?
    /// Paths changed since `base`; nil when no base was found (`changesUnavailable` says why).
    public var changedPaths: [String]?
    public var base: String?
    public var changesUnavailable: String?

    public init(
        branch: String?, tags: [String], gitUnavailable: String?, changedPaths: [String]?, base: String?, changesUnavailable: String?
    ) {
        self.branch = branch
        self.tags = tags
        self.gitUnavailable = gitUnavailable
        self.changedPaths = changedPaths
        self.base = base
        self.changesUnavailable = changesUnavailable
    }
}

/// Decides one job's `when:`: nil reason to skip means run; `notes` explain a run that
/// happened because a rule could not be checked (no git context, no base).
enum RuleEvaluator {
    struct Verdict {
        var skip: String?
        var notes: [String]
    }

    static func evaluate(_ rule: WhenRule, job: String, explicitlySelected: Bool, inputs: RuleInputs?) -> Verdict {
        var notes: [String] = []
        if rule.manual && !explicitlySelected {
            return Verdict(skip: "manual: run it with --job \(job)", notes: [])
        }
        let refRules = rule.branches != nil || rule.tags != nil
        if refRules {
            if let inputs, inputs.gitUnavailable == nil {
                let branchOK = inputs.branch.map { b in rule.branches?.contains { Self.name(b, matches: $0.value) } ?? false } ?? false
                let tagOK = inputs.tags.contains { t in rule.tags?.contains { Self.name(t, matches: $0.value) } ?? false }
                if !branchOK && !tagOK {
                    var parts: [String] = []
                    if let branches = rule.branches {
                        parts.append(
                            "branch \(inputs.branch.map { "`\($0)`" } ?? "(detached HEAD)") matches none of \(branches.map(\.value).joined(separator: ", "))")
                    }
                    if let tags = rule.tags {
                        parts.append(
                            inputs.tags.isEmpty
                                ? "no tag points at this commit (wanted \(tags.map(\.value).joined(separator: ", ")))"
                                : "tag \(inputs.tags.joined(separator: ", ")) matches none of \(tags.map(\.value).joined(separator: ", "))")
                    }
                    return Verdict(skip: "when: " + parts.joined(separator: "; "), notes: [])
                }
            } else {
                // Fail closed: a branch or tag rule usually guards a release or a deploy.
                return Verdict(skip: "when: branch/tag rules need git context (\(inputs?.gitUnavailable ?? "git context unavailable"))", notes: [])
            }
        }
        if let patterns = rule.changes {
            if let paths = inputs?.changedPaths {
                let filter = PathFilter(patterns.map(\.value))
                let matched = paths.filter(filter.includes)
                if matched.isEmpty {
                    let against = inputs?.base.map { " since \($0)" } ?? ""
                    return Verdict(
                        skip:
                            "when: changes: none of the \(paths.count) changed path\(paths.count == 1 ? "" : "s")\(against) matched \(patterns.map(\.value).joined(separator: ", "))",
                        notes: [])
                }
                let shown = matched.prefix(3).joined(separator: ", ") + (matched.count > 3 ? " and \(matched.count - 3) more" : "")
                notes.append("changes: \(shown) matched")
            } else {
                notes.append("changes not checked: \(inputs?.changesUnavailable ?? inputs?.gitUnavailable ?? "git context unavailable"); running")
            }
        }
        return Verdict(skip: nil, notes: notes)
    }

    /// A branch or tag name against a rule pattern: exact unless the pattern has wildcards
    /// (`release` does not match `release/1.0`; `release/*` does).
    static func name(_ name: String, matches pattern: String) -> Bool {
        let glob = Glob(pattern)
        return glob.isLiteral ? name == pattern : glob.matches(name)
    }
}
