import ShipgateExpressions
import ShipgateModel
import ShipgatePlanning

/// What the jobs of a GitHub workflow start from: the contexts GitHub gives every job and the
/// default variables every step sees. Built by the CLI from the git context and the options
/// (`--event`, `--input`, `--var`, secrets); the engine adds each job's and step's own
/// (`github.job`, `GITHUB_JOB`, `GITHUB_ACTION`, `RUNNER_TEMP`, the file-command paths).
public struct WorkflowRuntime: Sendable {
    public var github: ExpressionObject
    public var vars: [String: String]
    public var inputs: [String: ExpressionValue]
    /// The `secrets` context: only what was given (an absent secret reads as the empty string).
    public var secrets: [String: String]
    /// `CI`, `GITHUB_*`, `RUNNER_OS`, …: set in every step's environment.
    public var variables: [String: String]
    /// `RUNNER_DEBUG` / `ACTIONS_STEP_DEBUG`: `::debug::` lines are shown.
    public var debug = false
    /// `$/` composite actions: repository-relative directory → the committed copy extracted
    /// for this run.
    public var selfActions: [String: String] = [:]
    /// Each extracted file's SHA-256 (directory → relative path → digest).
    public var selfActionDigests: [String: [String: String]] = [:]
    /// Actions of other repositories the run fetched, by `uses` as written.
    public var actions: [String: FetchedAction] = [:]
    /// Each fetched action's files' SHA-256 (action directory → relative path → digest), checked
    /// before each use as for `selfActionDigests`.
    public var actionDigests: [String: [String: String]] = [:]
    /// The Node.js for JavaScript actions, by the major version they ask for (20 for node20).
    public var node: [Int: NodeChoice] = [:]
    /// The cache service for `@actions/cache` (`ACTIONS_CACHE_URL`, `ACTIONS_RESULTS_URL`, …),
    /// set in every JavaScript action's environment.
    public var serviceVariables: [String: String] = [:]
    /// The environment names the secrets were read from (`npm_token` for `secrets.NPM_TOKEN`):
    /// withheld from every step's environment with the secrets' own names.
    public var withheld: Set<String> = []

    public init(github: ExpressionObject, vars: [String: String], inputs: [String: ExpressionValue], secrets: [String: String], variables: [String: String]) {
        self.github = github
        self.vars = vars
        self.inputs = inputs
        self.secrets = secrets
        self.variables = variables
    }

    /// An action of another repository as the run found it: read, or why it cannot run.
    public enum FetchedAction: Sendable {
        case action(CompositeAction)
        /// It cannot run here (a Docker action, an invalid action file): the job is refused.
        case refused(String)
        /// It could not be fetched (offline, unknown ref, unreachable): the job fails when it
        /// sets up, as on GitHub, before any step.
        case unavailable(String)
    }

    /// The first action the steps need, through fetched composite actions, for which `problem`
    /// says something (a refusal, a failed fetch): its `uses` and what was said.
    public static func firstProblem(
        _ steps: [GitHubStep], actions: [String: FetchedAction], depth: Int = 0, _ problem: (FetchedAction) -> String?
    ) -> (uses: String, why: String)? {
        guard depth < 12 else { return nil }
        for uses in FetchedActions.uses(in: steps) {
            guard let fetched = actions[uses] else { continue }
            if let why = problem(fetched) { return (uses, why) }
            if case .action(let action) = fetched, let found = firstProblem(action.steps, actions: actions, depth: depth + 1, problem) { return found }
        }
        return nil
    }

    /// The `node` a JavaScript action runs with: its path and version, or why there is none.
    public struct NodeChoice: Sendable {
        public var path: String?
        public var version: String
        /// Said once per step when the version is older than the action asks for.
        public var warning: String?
        public var problem: String?

        public init(path: String?, version: String, warning: String? = nil, problem: String? = nil) {
            self.path = path
            self.version = version
            self.warning = warning
            self.problem = problem
        }
    }

    /// `needs.<id>.result` for a finished job.
    static func result(_ r: JobResult) -> String {
        switch r.status {
        case .success, .cached: "success"
        case .failed: r.continueOnError ? "success" : "failure"
        case .skipped: "skipped"
        case .cancelled: "cancelled"
        case .blocked: "failure"
        }
    }

    /// The `needs` context of a job: each need's `result` and `outputs`.
    /// `strip`: the `caller/` prefix of a called workflow's jobs, so that inside it
    /// `needs.build` names `caller/build`.
    static func needs(_ job: PlannedJob, results: [String: JobResult], strip: String? = nil) -> ExpressionValue {
        .object(
            ExpressionObject(
                needIDs(job).map { id, variants in
                    let declared = strip.map { id.hasPrefix($0) ? String(id.dropFirst($0.count)) : id } ?? id
                    let found = ranHere(variants.compactMap { results[$0] })
                    // A matrix need: failure if any variant failed; outputs of the last that set them.
                    let statuses = found.map(result)
                    let result =
                        statuses.isEmpty
                        ? "success"
                        : statuses.contains("failure")
                            ? "failure" : statuses.contains("cancelled") ? "cancelled" : statuses.allSatisfy { $0 == "skipped" } ? "skipped" : "success"
                    var outputs: [String: String] = [:]
                    for r in found { for (k, v) in r.outputs where !v.isEmpty || outputs[k] == nil { outputs[k] = v } }
                    return (declared, .object(ExpressionObject([("result", .string(result)), ("outputs", WorkflowValues.object(outputs))])))
                }))
    }

    /// Results of a need's variants without those this host refused (`runs-on: windows-latest`),
    /// unless none ran here: a matrix over several systems still gates its dependents on the
    /// variants that ran, instead of skipping them all.
    static func ranHere(_ results: [JobResult]) -> [JobResult] {
        let ran = results.filter { !isRefused($0) }
        return ran.isEmpty ? results : ran
    }

    static func isRefused(_ r: JobResult) -> Bool { r.status == .skipped && (r.reason?.hasPrefix("refused") ?? false) }

    /// The job's needs grouped by declared job (`test` for `test (python=3.12)`), in order.
    static func needIDs(_ job: PlannedJob) -> [(String, [String])] {
        var order: [String] = []
        var byJob: [String: [String]] = [:]
        for id in job.needs {
            let declared = id.firstIndex(of: " ").map { String(id[..<$0]) } ?? id
            if byJob[declared] == nil { order.append(declared) }
            byJob[declared, default: []].append(id)
        }
        return order.map { ($0, byJob[$0]!) }
    }
}

/// Whether a workflow job whose needs have finished starts, by its `if:` (default
/// `success()`): `success()` holds when every need succeeded, `failure()` when an ancestor
/// failed, `cancelled()` when the run was cancelled; a false condition skips the job.
enum WorkflowJobCondition {
    enum Decision: Equatable {
        case run
        case skip(String)
        case fail(String)
    }

    /// Adds the reusable-workflow rules: a job of a called workflow first needs the caller's
    /// `if:` to hold over the caller's needs, then its own over its needs inside the called
    /// workflow; the job standing for a call runs (to collect) unless every called job was skipped.
    static func decide(
        _ job: PlannedJob, github: GitHubJob, results: [String: JobResult], ancestors: Set<String>, runtime: WorkflowRuntime?, cancelled: Bool
    ) -> Decision {
        if let collected = github.collects {
            let found = collected.flatMap { id in results.filter { $0.key == id || $0.key.hasPrefix(id + " (") }.map(\.value) }
            if !found.isEmpty, found.allSatisfy({ $0.status == .skipped }) { return .skip("every job of `\(job.job)`'s called workflow was skipped") }
            return .run
        }
        guard let call = github.call else {
            return decideOwn(job, github: github, results: results, ancestors: ancestors, runtime: runtime, cancelled: cancelled)
        }
        // The caller's `if:` over the caller's needs and what is above them; then the job's own
        // over its needs inside the called workflow, with the call's `inputs`.
        let prefix = call.caller + "/"
        var callerJob = GitHubJob()
        callerJob.condition = call.condition
        let outer = decideOwn(
            outerJob(job, call), github: callerJob, results: results, ancestors: ancestors.filter { !$0.hasPrefix(prefix) }, runtime: runtime,
            cancelled: cancelled)
        if outer != .run {
            if case .skip(let why) = outer { return .skip("the calling job `\(call.caller)`: \(why)") }
            return outer
        }
        var called = runtime
        do {
            called?.inputs = try callValues(call, job: job, results: results, runtime: runtime).inputs
        } catch {
            return .fail("called by `\(call.caller)`: \(error)")
        }
        var inner = job
        inner.needs = job.needs.filter { !call.needs.contains(declaredID($0)) }
        return decideOwn(
            inner, github: github, results: results, ancestors: ancestors.filter { $0.hasPrefix(prefix) }, runtime: called, cancelled: cancelled,
            strip: prefix)
    }

    /// The job as its caller stands: its needs are the caller's.
    static func outerJob(_ job: PlannedJob, _ call: WorkflowCall) -> PlannedJob {
        var outer = job
        outer.needs = job.needs.filter { call.needs.contains(declaredID($0)) }
        return outer
    }

    struct CallProblem: Error, CustomStringConvertible {
        var description: String
    }

    /// The `inputs` and `secrets` of a job of a called workflow: the caller's `with:` and
    /// `secrets:` evaluated in the caller's contexts (its needs, the run's inputs, vars and
    /// secrets), typed by the called workflow's declarations, defaults (templates too) filled in.
    static func callValues(_ call: WorkflowCall, job: PlannedJob, results: [String: JobResult], runtime: WorkflowRuntime?) throws -> (
        inputs: [String: ExpressionValue], secrets: [String: String]
    ) {
        let scope = ExpressionScope(
            contexts: ExpressionObject([
                ("github", .object(runtime?.github ?? ExpressionObject([]))), ("vars", WorkflowValues.object(runtime?.vars ?? [:])),
                ("inputs", .object(ExpressionObject(runtime?.inputs ?? [:]))),
                ("secrets", WorkflowValues.object(runtime?.secrets ?? [:])), ("needs", WorkflowRuntime.needs(outerJob(job, call), results: results)),
                ("matrix", .object(ExpressionObject([]))), ("env", .object(ExpressionObject([]))),
            ]))
        var inputs: [String: ExpressionValue] = [:]
        for spec in call.inputs {
            var value: ExpressionValue
            if let given = call.with.first(where: { $0.name == spec.name }) {
                do { value = try ExpressionTemplate.parse(given.text).evaluate(in: scope) } catch {
                    throw CallProblem(description: "input `\(spec.name)` at \(given.location): \(error.message)")
                }
            } else if let json = spec.defaultJSON {
                value = (try? ExpressionValue.parseJSON(json)) ?? .string(json)
                // A default may be an expression (`default: ${{ github.ref }}`).
                if case .string(let text) = value, text.hasExpressionMarker {
                    do { value = try ExpressionTemplate.parse(text).evaluate(in: scope) } catch {
                        throw CallProblem(description: "default of input `\(spec.name)`: \(error.message)")
                    }
                }
            } else if spec.required {
                throw CallProblem(description: "the called workflow requires the input `\(spec.name)`")
            } else {
                value = spec.type == "boolean" ? .bool(false) : spec.type == "number" ? .number(0) : .string("")
            }
            switch spec.type {
            case "boolean":
                if case .string(let s) = value { value = .bool(s.lowercased() == "true") } else if case .bool = value {} else { value = .bool(value.isTruthy) }
            case "number":
                guard value.number.isFinite else { throw CallProblem(description: "input `\(spec.name)` is `\(value.text)`, not a number") }
                value = .number(value.number)
            default: if case .string = value {} else { value = .string(value.text) }
            }
            inputs[spec.name] = value
        }
        let all = runtime?.secrets ?? [:]
        var secrets: [String: String] = [:]
        if call.inheritSecrets {
            secrets = all
        } else {
            for entry in call.secrets {
                do { secrets[entry.name] = try ExpressionTemplate.parse(entry.text).text(in: scope) } catch {
                    throw CallProblem(description: "secret `\(entry.name)` at \(entry.location): \(error.message)")
                }
            }
            if let token = all["GITHUB_TOKEN"] { secrets["GITHUB_TOKEN"] = token }
        }
        return (inputs, secrets)
    }

    static func declaredID(_ id: String) -> String { id.firstIndex(of: " ").map { String(id[..<$0]) } ?? id }

    private static func decideOwn(
        _ job: PlannedJob, github: GitHubJob, results: [String: JobResult], ancestors: Set<String>, runtime: WorkflowRuntime?, cancelled: Bool,
        strip: String? = nil
    ) -> Decision {
        let direct = WorkflowRuntime.needIDs(job).flatMap { _, variants in WorkflowRuntime.ranHere(variants.compactMap { results[$0] }) }
        // "A failure or skip applies to all jobs in the dependency chain from the point of failure
        // or skip onwards": `success()` looks at every ancestor, not only the direct needs.
        var upstream = job
        upstream.needs = ancestors.sorted()
        let chain = WorkflowRuntime.needIDs(upstream).flatMap { _, variants in WorkflowRuntime.ranHere(variants.compactMap { results[$0] }) }
        let succeeded = (direct + chain).allSatisfy { WorkflowRuntime.result($0) == "success" }
        let failed = ancestors.contains { id in results[id].map { WorkflowRuntime.result($0) == "failure" } ?? false }
        let condition: IfCondition
        do { condition = try IfCondition.parse(github.condition) } catch {
            return .fail("`if: \(github.condition)`: \(error.message)")
        }
        let contexts = ExpressionObject([
            ("github", .object(runtime?.github ?? ExpressionObject([]))), ("needs", WorkflowRuntime.needs(job, results: results, strip: strip)),
            ("vars", WorkflowValues.object(runtime?.vars ?? [:])),
            ("inputs", .object(ExpressionObject(runtime?.inputs ?? [:]))),
        ])
        let scope = ExpressionScope(contexts: contexts) { status in
            switch status {
            case .always: true
            case .success: succeeded && !cancelled
            case .failure: failed
            case .cancelled: cancelled
            }
        }
        do {
            if try condition.holds(in: scope) { return .run }
        } catch {
            return .fail("`if: \(github.condition)`: \(error.message)")
        }
        let statusFunctions = ["success(", "failure(", "always(", "cancelled("]
        if cancelled, !statusFunctions.contains(where: { github.condition.contains(literal: $0) }) { return .skip("the run was cancelled") }
        if !succeeded, !statusFunctions.contains(where: { github.condition.contains(literal: $0) }) {
            // The implied `success()` decided it, not the condition as written.
            var blocking = direct.filter { WorkflowRuntime.result($0) != "success" }.map(\.id)
            if blocking.isEmpty {
                // Only further up the chain: name where it stopped.
                blocking = chain.filter { WorkflowRuntime.result($0) != "success" }.map(\.id)
            }
            let refused = blocking.filter { id in results[id].map(WorkflowRuntime.isRefused) ?? false }
            return .skip(
                refused.count == blocking.count
                    ? "needs \(blocking.joined(separator: ", ")), which this host does not run" : "needs did not succeed: \(blocking.joined(separator: ", "))")
        }
        return .skip("`if: \(github.condition)` is false")
    }
}
