import ShipgateExpressions
import ShipgateModel

/// What the planner decides for GitHub workflow jobs before the run, and from what.
///
/// Contract (GitHub's semantics, on this host):
/// - The workflow runs only when its `on:` has the run's event and that event's filters pass
///   (`branches`/`tags` and their `-ignore` forms on the pushed ref, `paths`/`paths-ignore` on
///   the changed files, not for tag pushes; a filter that cannot be checked here, without a git
///   context or a base, lets the workflow run);
///   `ignoreTriggers` runs it anyway.
/// - A variant runs on this host when every `runs-on` label (matrix values evaluated) is one
///   this host serves: `ubuntu-*` and `linux` on Linux, the architecture labels (`x64`, `arm64`)
///   of its own architecture, `self-hosted`, and any label mapped with `--runner LABEL=host`.
///   Others are refused with the reason (Windows or macOS asked on Linux, an unknown label).
/// - `--matrix KEY=VALUE` keeps only the variants with those values (compared as text).
public struct WorkflowSettings: Sendable {
    /// The event the run simulates (`--event`, default `push`).
    public var event: String
    /// The `github` context known before the run (event, ref, sha, repository, actor, …).
    public var github: ExpressionObject
    /// `vars` (from `--var` / `--vars-file`) and `inputs` (`--input`, with the inputs' defaults).
    public var vars: [String: String]
    public var inputs: [String: ExpressionValue]
    /// Labels mapped to this host with `--runner LABEL=host`.
    public var runnerLabels: Set<String>
    /// This host as GitHub names it: `Linux` / `macOS`, `X64` / `ARM64`.
    public var hostOS: String
    public var hostArch: String
    public var matrixFilter: [(key: String, value: String)]
    public var ignoreTriggers: Bool
    /// What trigger filters decide on: the pushed branch and tag, the changed paths.
    public var rules: RuleInputs?
    /// `--require-pinned`: a job using an action of another repository by a tag or branch
    /// (not a full commit SHA) is refused.
    public var requirePinned = false

    public init(
        event: String = "push", github: ExpressionObject = ExpressionObject([]), vars: [String: String] = [:], inputs: [String: ExpressionValue] = [:],
        runnerLabels: Set<String> = [], hostOS: String = WorkflowSettings.currentOS, hostArch: String = WorkflowSettings.currentArch,
        matrixFilter: [(key: String, value: String)] = [], ignoreTriggers: Bool = false, rules: RuleInputs? = nil
    ) {
        self.event = event
        self.github = github
        self.vars = vars
        self.inputs = inputs
        self.runnerLabels = runnerLabels
        self.hostOS = hostOS
        self.hostArch = hostArch
        self.matrixFilter = matrixFilter
        self.ignoreTriggers = ignoreTriggers
        self.rules = rules
    }

    #if os(macOS)
        public static let currentOS = "macOS"
    #else
        public static let currentOS = "Linux"
    #endif
    #if arch(arm64)
        public static let currentArch = "ARM64"
    #else
        public static let currentArch = "X64"
    #endif
}

/// The expression contexts of a workflow job, shared by the planner and the engine.
public enum WorkflowValues {
    /// The `matrix` context of a variant: typed values from their JSON, strings as they are.
    public static func matrix(_ values: [MatrixValue]) -> ExpressionValue {
        .object(
            ExpressionObject(
                values.map { v in
                    (v.axis, v.json.flatMap { try? ExpressionValue.parseJSON($0) } ?? .string(v.value))
                }))
    }

    /// The `strategy` context: `fail-fast`, `job-index`, `job-total`, `max-parallel`.
    public static func strategy(_ job: GitHubJob, index: Int) -> ExpressionValue {
        .object(
            ExpressionObject([
                ("fail-fast", .bool(job.failFast)), ("job-index", .number(Double(index))), ("job-total", .number(Double(job.variantCount))),
                ("max-parallel", .number(Double(job.maxParallel ?? job.variantCount))),
            ]))
    }

    public static func object(_ values: [String: String]) -> ExpressionValue {
        .object(ExpressionObject(values.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
    }
}

extension Planner {
    /// Applies what is decided before the run to a planned workflow job: its name, timeout,
    /// `continue-on-error`, the runner it needs, the `--matrix` selection and the triggers.
    static func applyWorkflow(
        _ planned: inout PlannedJob, github: GitHubJob, variantIndex: Int, triggerSkip: String?, settings: WorkflowSettings
    ) {
        planned.github = github
        planned.variantIndex = variantIndex
        let inputs = github.call.map { callInputs($0, settings: settings) } ?? settings.inputs
        let contexts = ExpressionObject([
            ("github", .object(settings.github)), ("inputs", .object(ExpressionObject(inputs))),
            ("vars", WorkflowValues.object(settings.vars)), ("matrix", WorkflowValues.matrix(planned.matrix)),
            ("strategy", WorkflowValues.strategy(github, index: variantIndex)),
        ])
        let scope = ExpressionScope(contexts: contexts)
        func evaluate(_ text: String) -> Result<ExpressionValue, ExpressionError> {
            Result { () throws(ExpressionError) in try ExpressionTemplate.parse(text).evaluate(in: scope) }
        }
        // GitHub's display name: `name:` with its expressions, else the id; matrix values follow
        // unless the name already uses them.
        let base = github.name.flatMap { try? evaluate($0).get().text } ?? planned.job
        let usesMatrix = github.name?.contains(literal: "matrix.") ?? false
        planned.displayName = planned.matrix.isEmpty || usesMatrix ? base : base + " (" + planned.matrix.map(\.value).joined(separator: ", ") + ")"
        if let text = github.timeoutMinutes {
            if case .success(let v) = evaluate(text), v.number.isFinite, v.number > 0 {
                planned.timeout = TimeSpan(milliseconds: Int64(v.number * 60_000))
            }
        }
        if let text = github.continueOnError, case .success(let v) = evaluate(text) { planned.continueOnError = v.isTruthy }
        planned.retry = .none
        guard planned.status == .run else { return }
        for (key, value) in settings.matrixFilter {
            guard let have = planned.matrix.first(where: { $0.axis.lowercased() == key.lowercased() }) else {
                skip(&planned, "not selected (--matrix \(key)=\(value): the job has no matrix key `\(key)`)")
                return
            }
            if have.value != value {
                skip(&planned, "not selected (--matrix \(key)=\(value))")
                return
            }
        }
        if let triggerSkip {
            skip(&planned, triggerSkip)
            return
        }
        if let refusal = github.refusal {
            skip(&planned, "refused: " + refusal)
            return
        }
        if settings.requirePinned, let unpinned = FetchedActions.uses(in: planned.steps.compactMap(\.github)).first(where: { !FetchedActions.isPinned($0) }) {
            skip(
                &planned,
                "refused: \(planned.location): `uses: \(unpinned)` is not pinned to a commit SHA (--require-pinned): pin it as `uses: \(unpinned.split(separator: "@").first ?? "")@<40-hex commit> # \(unpinned.split(separator: "@").last ?? "")`"
            )
            return
        }
        for service in github.services {
            guard case .success(let image) = evaluate(service.image) else {
                skip(&planned, "refused: \(service.location): the image of service `\(service.id)` cannot be decided before the run")
                return
            }
            if let why = ServiceImage.refusal(image: image.text, id: service.id) {
                skip(&planned, "refused: \(service.location): " + why)
                return
            }
        }
        // The job standing for a reusable workflow call runs nothing itself.
        guard github.collects == nil else { return }
        var labels: [String] = []
        for label in github.runsOn {
            switch evaluate(label) {
            case .success(.array(let list)): labels += list.items.map(\.text)
            case .success(let v): labels.append(v.text)
            case .failure(let error):
                skip(&planned, "refused: \(planned.location): `runs-on: \(label)` cannot be decided before the run (\(error.message))")
                return
            }
        }
        if let refusal = RunnerMatch.refusal(labels: labels, settings: settings) { skip(&planned, "refused: \(planned.location): " + refusal) }
    }

    /// Why this host refuses a variant of a workflow job (its own refusal, or its `runs-on`),
    /// or nil: what `validate` counts, without planning the whole workflow.
    public static func refusal(_ def: JobDefinition, variant: [MatrixValue], index: Int, settings: WorkflowSettings) -> String? {
        guard let github = def.github else { return nil }
        if let refusal = github.refusal { return refusal }
        guard github.collects == nil else { return nil }
        let scope = ExpressionScope(
            contexts: ExpressionObject([
                ("matrix", WorkflowValues.matrix(variant)), ("strategy", WorkflowValues.strategy(github, index: index)), ("github", .object(settings.github)),
                ("vars", WorkflowValues.object(settings.vars)),
            ]))
        for service in github.services {
            let image = (try? ExpressionTemplate.parse(service.image).evaluate(in: scope))?.text ?? service.image
            if let why = ServiceImage.refusal(image: image, id: service.id) { return "\(service.location): " + why }
        }
        var labels: [String] = []
        for label in github.runsOn {
            guard let value = try? ExpressionTemplate.parse(label).evaluate(in: scope) else { return "`runs-on: \(label)` cannot be decided before the run" }
            if case .array(let list) = value { labels += list.items.map(\.text) } else { labels.append(value.text) }
        }
        return RunnerMatch.refusal(labels: labels, settings: settings)
    }

    /// A called workflow's `inputs` as far as they are known before the run: each `with:` value
    /// that reads only `github`, `inputs` and `vars`, else its default (a value from `needs` is
    /// known when the job starts; the engine evaluates them all again then).
    static func callInputs(_ call: WorkflowCall, settings: WorkflowSettings) -> [String: ExpressionValue] {
        let scope = ExpressionScope(
            contexts: ExpressionObject([
                ("github", .object(settings.github)), ("vars", WorkflowValues.object(settings.vars)),
                ("inputs", .object(ExpressionObject(settings.inputs))),
            ]))
        var out: [String: ExpressionValue] = [:]
        for spec in call.inputs {
            var value = ExpressionValue.null
            if let given = call.with.first(where: { $0.name == spec.name }), let v = try? ExpressionTemplate.parse(given.text).evaluate(in: scope) {
                value = v
            } else if let json = spec.defaultJSON, let v = try? ExpressionValue.parseJSON(json) {
                value = v
                if case .string(let text) = v, text.hasExpressionMarker { value = (try? ExpressionTemplate.parse(text).evaluate(in: scope)) ?? .null }
            }
            if spec.type == "boolean", case .string(let s) = value { value = .bool(s.lowercased() == "true") }
            out[spec.name] = value
        }
        return out
    }

    private static func skip(_ planned: inout PlannedJob, _ reason: String) {
        planned.status = .skip
        planned.reason = reason
    }
}

/// Whether this host can serve a `runs-on` label set.
public enum RunnerMatch {
    public static func refusal(labels: [String], settings: WorkflowSettings) -> String? {
        let linux = settings.hostOS == "Linux"
        for label in labels {
            let l = label.lowercased()
            if settings.runnerLabels.contains(label) || settings.runnerLabels.contains(l) { continue }
            if l == "self-hosted" || l == settings.hostOS.lowercased() || l == settings.hostArch.lowercased() { continue }
            if l.hasPrefix("windows") {
                return
                    "`runs-on: \(label)` asks for Windows; this host is \(settings.hostOS) (pick Linux variants with --matrix, or map the label with --runner \(label)=host)"
            }
            if l.hasPrefix("macos") {
                return
                    "`runs-on: \(label)` asks for macOS; this host is \(settings.hostOS) (pick other variants with --matrix, or map the label with --runner \(label)=host)"
            }
            if l.hasPrefix("ubuntu") {
                guard linux else { return "`runs-on: \(label)` asks for Linux; this host is \(settings.hostOS)" }
                let wantsArm = l.hasSuffix("-arm") || l.contains("arm64")
                if wantsArm != (settings.hostArch == "ARM64") {
                    return "`runs-on: \(label)` asks for \(wantsArm ? "ARM64" : "X64"); this host is \(settings.hostArch) (map it with --runner \(label)=host)"
                }
                continue
            }
            if ["x64", "arm64", "arm", "x86"].contains(l) {
                return "`runs-on: \(label)` asks for \(label); this host is \(settings.hostArch)"
            }
            if label.allSatisfy(\.isWhitespace) {
                return "`runs-on` is an empty label here (an input or variable with no value?): give it with --input or --var"
            }
            return "`runs-on: \(label)` is not a label this host serves; if it may run here, map it with --runner \(label)=host"
        }
        return labels.isEmpty ? "`runs-on` is empty" : nil
    }
}

/// Whether the workflow's `on:` starts it for the run's event, and why not.
public enum TriggerFilter {
    /// nil: the workflow runs; otherwise the reason it does not.
    public static func skip(_ triggers: [WorkflowTrigger], settings: WorkflowSettings) -> String? {
        guard !settings.ignoreTriggers else { return nil }
        let events = triggers.map(\.event)
        guard let trigger = triggers.first(where: { $0.event == settings.event }) else {
            return
                "not triggered: the workflow runs on \(events.joined(separator: ", ")), not on `\(settings.event)` (pick one with --event, or --ignore-triggers)"
        }
        guard settings.event == "push" || settings.event == "pull_request" || settings.event == "pull_request_target" else { return nil }
        let rules = settings.rules
        let isPush = settings.event == "push"
        // A pull request's branch filters look at its base branch.
        let branch = isPush ? rules?.branch : (rules?.base.map { $0.hasPrefix("origin/") ? String($0.dropFirst(7)) : $0 } ?? "main")
        let tag = isPush ? rules?.tags.first : nil
        let hasBranchFilter = trigger.branches != nil || trigger.branchesIgnore != nil
        let hasTagFilter = trigger.tags != nil || trigger.tagsIgnore != nil
        if let tag, isPush {
            // A tag push: only tag filters apply; with only branch filters, a tag does not trigger.
            if hasBranchFilter && !hasTagFilter { return "not triggered: a tag push (`\(tag)`) and `on.push` filters branches only" }
            if let why = filter(tag, include: trigger.tags, ignore: trigger.tagsIgnore, what: "tag") { return why }
        } else if let branch {
            if hasTagFilter && !hasBranchFilter && isPush { return "not triggered: `on.push` filters tags only and `\(branch)` is a branch" }
            if let why = filter(branch, include: trigger.branches, ignore: trigger.branchesIgnore, what: "branch") { return why }
        }
        // "Path filters are not evaluated for pushes to tags."
        if tag == nil, trigger.paths != nil || trigger.pathsIgnore != nil, let changed = rules?.changedPaths {
            let matching = changed.filter { path in
                (trigger.paths.map { matches(path, $0, isPath: true) } ?? true) && !(trigger.pathsIgnore.map { matches(path, $0, isPath: true) } ?? false)
            }
            if matching.isEmpty {
                return
                    "not triggered: no changed file matches the `paths` filters of `on.\(settings.event)` (\(changed.count) changed since \(rules?.base ?? "the base"))"
            }
        }
        return nil
    }

    private static func filter(_ name: String, include: [String]?, ignore: [String]?, what: String) -> String? {
        if let include, !matches(name, include) { return "not triggered: \(what) `\(name)` matches none of \(include.joined(separator: ", "))" }
        if let ignore, matches(name, ignore) { return "not triggered: \(what) `\(name)` is ignored (\(ignore.joined(separator: ", ")))" }
        return nil
    }

    /// GitHub's filter lists: patterns in order, a `!` pattern takes matches back out.
    static func matches(_ name: String, _ patterns: [String], isPath: Bool = false) -> Bool {
        func one(_ pattern: String) -> Bool { isPath ? Glob(pattern).matches(name) : RuleEvaluator.name(name, matches: pattern) }
        var matched = false
        for pattern in patterns {
            if pattern.hasPrefix("!") {
                if matched && one(String(pattern.dropFirst())) { matched = false }
            } else if !matched && one(pattern) {
                matched = true
            }
        }
        return matched
    }
}
