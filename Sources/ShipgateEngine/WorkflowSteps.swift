import Foundation
import ShipgateCache
import ShipgateExpressions
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

/// Runs the steps of a GitHub workflow job as GitHub's runner does.
///
/// Contract, per step in order:
/// 1. `if:` (default `success()`) is evaluated with the job's status so far: `success()` holds
///    until a step fails (a failure under `continue-on-error` does not count), `failure()` after,
///    `cancelled()` once the run is cancelled, `always()` always. A false condition skips the
///    step (`outcome` and `conclusion` `skipped`).
/// 2. Its `env` is evaluated, then `run` / `with`, `working-directory`, `timeout-minutes` and
///    `continue-on-error`, with the `env` context of workflow < job < `$GITHUB_ENV` < step.
/// 3. A `run` script is written to `$RUNNER_TEMP` and started with its shell (GitHub's
///    templates: `bash -e {0}` by default, `bash --noprofile --norc -eo pipefail {0}` for an
///    explicit `bash`, `sh -e {0}`, `python {0}`, or a custom one with `{0}`); a native action
///    (`NativeAction`) runs in-process.
/// 4. `$GITHUB_OUTPUT`, `$GITHUB_ENV`, `$GITHUB_PATH` and `$GITHUB_STEP_SUMMARY` are read
///    (multiline `NAME<<DELIM` forms included); workflow commands in the output are applied.
/// 5. `steps.<id>` gets `outputs`, `outcome` and `conclusion`.
/// Afterwards the post steps of native actions run in reverse order (a cache is saved when the
/// job succeeded), and the job's `outputs:` are evaluated; an output holding a secret is
/// dropped with a warning, as on GitHub.
extension JobExecutor {
    /// Mutable state of one workflow job's attempt (shared by the job's steps and the steps of
    /// the composite actions they call: `$GITHUB_ENV` and `$GITHUB_PATH` apply job-wide).
    struct WorkflowJobState {
        var env: [(String, String)] = []  // workflow + job env, evaluated
        var fileEnv: [String: String] = [:]  // $GITHUB_ENV
        var path: [String] = []  // $GITHUB_PATH, first = first on PATH
        var posts: [PostStep] = []
        var summary = ""
        var actionNames: [String: Int] = [:]
        /// `job.services`: each started service's `id`, `network` and `ports`.
        var services: ExpressionValue = .object(ExpressionObject([]))
        /// `$GITHUB_STATE` values of each JavaScript action's step, by the step's place (`3`, `2.1`).
        var saved: [String: [String: String]] = [:]

        func envContext(_ stepEnv: [(String, String)] = []) -> [String: String] {
            var out: [String: String] = [:]
            for (k, v) in env { out[k] = v }
            for (k, v) in fileEnv { out[k] = v }
            for (k, v) in stepEnv { out[k] = v }
            return out
        }
    }

    /// The steps being run: the job's, or a composite action's (its own `steps`, `inputs`,
    /// status and `github.action_path`).
    struct StepFrame {
        var steps: [(id: String, value: ExpressionValue)] = []
        var failed = false
        var firstFailure: String?
        /// A composite action's `inputs` context and directory; nil for the job's own steps.
        var inputs: ExpressionValue?
        var actionPath: String?
        /// The env of the step that called the composite action (its steps inherit it).
        var inherited: [(String, String)] = []
        /// `2.` for the steps of a composite action called by step 2, `` for the job's.
        var prefix = ""
        var depth = 0
        /// For a `$/` action: checks its extracted copy, nil when it is intact.
        var verify: (@Sendable () -> String?)?
        /// A step was skipped because the run (or the matrix, fail-fast) was cancelled: the job
        /// ends `cancelled`, not `success`, even when no step failed.
        var stoppedByCancellation = false
    }

    /// What every step of a job shares.
    struct WorkflowJobContext {
        let job: PlannedJob
        let github: GitHubJob
        let attempt: Int
        let deadline: ContinuousClock.Instant
        let workspace: String
        let temp: String
        /// Where step scripts and file-command files go (see `scratchDirectory`).
        let scratch: String
        let extraEnv: [String: String]
        let log: JobLog
        let contexts: [String: ExpressionValue]
    }

    /// Work a native action leaves for the end of the job (actions/cache saving).
    struct PostStep: Sendable {
        var name: String
        var onlyOnSuccess: Bool
        var run: @Sendable () -> String?
        /// A JavaScript action's `post` (then `run` is not used).
        var javascript: JavaScriptCall? = nil
    }

    func runWorkflowSteps(
        _ job: PlannedJob, github: GitHubJob, needed: [String: JobResult], attempt: Int, deadline: ContinuousClock.Instant, root workspace: String,
        extraEnv: [String: String], log: JobLog, outputsPath: String, pgids: inout [Int32], result: inout JobResult
    ) async -> String? {
        let runtime = options.workflow
        // $RUNNER_TEMP is outside the workspace (GitHub's is too): what steps leave there (and the
        // scripts, with their expressions filled in) is never part of an artifact or a hashFiles.
        let jobName = (outputsPath as NSString).lastPathComponent
        guard let temp = Self.privateDirectory(under: options.baseEnvironment["TMPDIR"] ?? "/tmp", name: "\(options.runID)-\(jobName)") else {
            return "cannot create a private temporary directory for the job under \(options.baseEnvironment["TMPDIR"] ?? "/tmp")"
        }
        try? FileManager.default.removeItem(atPath: temp)
        try? FileManager.default.createDirectory(atPath: temp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let scratch = Self.privateDirectory(under: "/dev/shm", name: "\(options.runID)-\(jobName)") ?? temp + "/_runner_file_commands"
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        masker.learn((runtime?.secrets ?? [:]).values.filter { !$0.isEmpty })

        var state = WorkflowJobState()
        var frame = StepFrame()
        let needs = WorkflowRuntime.needs(job, results: needed)
        var baseContexts = workflowContexts(job, github: github, workspace: workspace, temp: temp, needs: needs)
        if let collected = github.collects {
            return collect(job, github: github, collected: collected, needed: needed, contexts: baseContexts, result: &result)
        }
        if let call = github.call {
            do {
                let (inputs, secrets) = try WorkflowJobCondition.callValues(call, job: job, results: needed, runtime: runtime)
                baseContexts["inputs"] = .object(ExpressionObject(inputs))
                baseContexts["secrets"] = WorkflowValues.object(secrets)
                masker.learn(secrets.values.filter { !$0.isEmpty })  // whatever the caller maps in is a secret here
            } catch { return "called by `\(call.caller)`: \(error)" }
            // Inside the called workflow, `needs` are its own jobs, by their own names.
            var inner = job
            inner.needs = job.needs.filter { !call.needs.contains(WorkflowJobCondition.declaredID($0)) }
            baseContexts["needs"] = WorkflowRuntime.needs(inner, results: needed, strip: call.caller + "/")
        }
        // Workflow env, then job env, each evaluated where it stands.
        for list in [github.workflowEnv, github.env] {
            for entry in list {
                let scope = scope(baseContexts, state: state, frame: frame, stepEnv: [])
                do { state.env.append((entry.name, try ExpressionTemplate.parse(entry.text).text(in: scope))) } catch {
                    return "`env.\(entry.name)` at \(entry.location): \(error.message)"
                }
            }
        }
        let context = WorkflowJobContext(
            job: job, github: github, attempt: attempt, deadline: deadline, workspace: workspace, temp: temp, scratch: scratch, extraEnv: extraEnv, log: log,
            contexts: baseContexts)
        let steps = job.steps.compactMap { planned in planned.github.map { ($0, planned.name) } }
        if let why = unavailableAction(steps.map(\.0)) {
            emitLine(job.id, "error: set up job: \(masker(why))", log)
            return "set up job: \(why)"
        }
        var services: [RunningService] = []
        if !github.services.isEmpty {
            let started = await startServices(github, context: context, scope: jobScope(context, state: state, frame: frame), pgids: &pgids)
            if let failure = started.failure {
                emitLine(job.id, "error: set up job: \(masker(failure))", log)
                return "set up job: \(failure)"
            }
            services = started.running
            state.services = started.value
        }
        await runPreSteps(steps, frame: &frame, context: context, state: &state, pgids: &pgids)
        await runStepList(steps, frame: &frame, context: context, state: &state, pgids: &pgids, result: &result)
        for post in state.posts.reversed() {
            if let call = post.javascript {
                await runJavaScriptPost(call, context: context, frame: &frame, state: &state, pgids: &pgids)
                continue
            }
            guard !post.onlyOnSuccess || !frame.failed else { continue }
            log.mark("-- post: \(post.name) --")
            if let failure = post.run() {
                emitLine(job.id, "warning: \(post.name): \(masker(failure))", log)
            }
        }
        await stopServices(services, context: context, pgids: &pgids)
        if !state.summary.isEmpty {
            let path = options.runDirectory.root + "/summaries/" + ((outputsPath as NSString).lastPathComponent) + ".md"
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if (try? masker(state.summary).write(toFile: path, atomically: true, encoding: .utf8)) != nil {
                notice(job.id, .info, "step summary: \(path)")
            }
        }
        // Job outputs, from the final state.
        var jobOutputs: [String: String] = [:]
        let finalScope = scope(baseContexts, state: state, frame: frame, stepEnv: [])
        for output in github.outputs {
            do {
                let value = try ExpressionTemplate.parse(output.text).text(in: finalScope)
                if masker(value) != value {
                    notice(job.id, .warning, "output `\(output.name)` is not set: it may contain a secret (as on GitHub)")
                    continue
                }
                jobOutputs[output.name] = value
            } catch {
                notice(job.id, .warning, "output `\(output.name)`: \(error.message)")
            }
        }
        result.outputs = jobOutputs
        if frame.stoppedByCancellation, let reason = cancellation.reason { return "cancelled: \(reason)" }
        guard frame.failed else { return nil }
        // A step stopped by the cancellation: the job was cancelled, not failed by its own steps.
        if let reason = cancellation.reason { return "cancelled: \(reason)" }
        return frame.firstFailure ?? "a step failed"
    }

    /// The job standing for a reusable workflow call: fails when a called job failed; its
    /// outputs are `on.workflow_call.outputs`, read from the called jobs (`jobs.<id>`).
    private func collect(
        _ job: PlannedJob, github: GitHubJob, collected: [String], needed: [String: JobResult], contexts: [String: ExpressionValue], result: inout JobResult
    ) -> String? {
        var called = job
        called.needs = needed.keys.sorted().filter { id in collected.contains(WorkflowJobCondition.declaredID(id)) }
        let prefix = job.job + "/"
        guard case .object(let needs) = WorkflowRuntime.needs(called, results: needed) else { return nil }
        let jobs = ExpressionObject(zip(needs.keys, needs.orderedValues).map { (String($0.0.dropFirst(prefix.count)), $0.1) })
        var all = contexts
        all["jobs"] = .object(jobs)
        let scope = ExpressionScope(contexts: ExpressionObject(all))
        var outputs: [String: String] = [:]
        for output in github.outputs {
            do { outputs[output.name] = try ExpressionTemplate.parse(output.text).text(in: scope) } catch {
                notice(job.id, .warning, "output `\(output.name)` at \(output.location): \(error.message)")
            }
        }
        result.outputs = outputs.filter { masker($0.value) == $0.value }
        func outcome(_ v: ExpressionValue) -> String { if case .object(let o) = v { o["result"]?.text ?? "" } else { "" } }
        let failed = zip(jobs.keys, jobs.orderedValues).filter { outcome($0.1) == "failure" }.map(\.0)
        if !failed.isEmpty { return "the called workflow failed: \(failed.joined(separator: ", "))" }
        let cancelled = zip(jobs.keys, jobs.orderedValues).filter { outcome($0.1) == "cancelled" }.map(\.0)
        return cancelled.isEmpty ? nil : "the called workflow was cancelled: \(cancelled.joined(separator: ", "))"
    }

    /// Runs steps in order in `frame` (the contract above, points 1 to 5).
    private func runStepList(
        _ steps: [(GitHubStep, String)], frame: inout StepFrame, context: WorkflowJobContext, state: inout WorkflowJobState, pgids: inout [Int32],
        result: inout JobResult
    ) async {
        let job = context.job
        let log = context.log
        let runtime = options.workflow
        for (index, (step, declaredName)) in steps.enumerated() {
            let label = "step \(frame.prefix)\(index + 1)/\(steps.count)"
            let actionID = actionName(step, state: &state)
            var contexts = context.contexts
            var githubValues: [String: ExpressionValue] = [
                "job": .string(Self.githubJob(job)), "action": .string(actionID), "workspace": .string(context.workspace),
            ]
            if let path = frame.actionPath { githubValues["action_path"] = .string(path) }
            contexts["github"] = .object(overriding(runtime?.github, githubValues))
            let cancelled = cancellation.isCancelled
            let failedSoFar = frame.failed
            let hashFiles = scope(contexts, state: state, frame: frame, stepEnv: frame.inherited).hashFiles
            let conditionScope = ExpressionScope(
                contexts: objects(contexts, state: state, frame: frame, stepEnv: frame.inherited),
                status: { status in
                    switch status {
                    case .always: true
                    case .success: !failedSoFar && !cancelled
                    case .failure: failedSoFar
                    case .cancelled: cancelled
                    }
                }, hashFiles: hashFiles)
            let runs: Bool
            do { runs = try IfCondition.parse(step.condition).holds(in: conditionScope) } catch {
                let reason = "step `\(declaredName)`: `if: \(step.condition)`: \(error.message)"
                emitLine(job.id, "error: \(reason)", log)
                record(step, outcome: "failure", conclusion: "failure", outputs: [:], frame: &frame)
                frame.failed = true
                frame.firstFailure = frame.firstFailure ?? reason
                continue
            }
            if !runs {
                if cancelled { frame.stoppedByCancellation = true }
                log.mark("-- \(label): \(masker(declaredName)): skipped --")
                observer.handle(
                    .output(job: job.id, line: "skipped \(masker(declaredName))" + (step.condition.isEmpty ? "" : " (if: \(masker(step.condition)))")))
                record(step, outcome: "skipped", conclusion: "skipped", outputs: [:], frame: &frame)
                continue
            }
            // The step's own env, then everything else, in the scope of that env.
            var stepEnv = frame.inherited
            var problem: String?
            for entry in step.env {
                do {
                    stepEnv.append(
                        (entry.name, try ExpressionTemplate.parse(entry.text).text(in: scope(contexts, state: state, frame: frame, stepEnv: stepEnv))))
                } catch {
                    problem = "`env.\(entry.name)` at \(entry.location): \(error.message)"
                }
            }
            let stepScope = scope(contexts, state: state, frame: frame, stepEnv: stepEnv)
            func text(_ t: String?) throws(ExpressionError) -> String? {
                guard let t else { return nil }
                return try ExpressionTemplate.parse(t).text(in: stepScope)
            }
            // A `name:` is a template; GitHub's default name shows the script as written.
            let name = step.name.map { (try? text($0)) ?? $0 } ?? declaredName
            var continueOnError = false
            var stepTimeout: TimeSpan?
            var script: String?
            var inputs: [String: String] = [:]
            var directory = context.workspace
            do {
                if let c = step.continueOnError { continueOnError = try ExpressionTemplate.parse(c).evaluate(in: stepScope).isTruthy }
                if let t = try text(step.timeoutMinutes), let minutes = Double(t), minutes > 0 { stepTimeout = TimeSpan(milliseconds: Int64(minutes * 60_000)) }
                script = try text(step.run)
                for entry in step.with { inputs[entry.name] = try ExpressionTemplate.parse(entry.text).text(in: stepScope) }
                let defaultDirectory = step.run != nil && frame.depth == 0 ? context.github.defaultWorkingDirectory : nil
                if let relative = try text(step.workingDirectory ?? defaultDirectory) {
                    directory = relative.hasPrefix("/") ? relative : (context.workspace as NSString).appendingPathComponent(relative)
                }
            } catch {
                problem = problem ?? error.message
            }

            if frame.depth == 0 {
                observer.handle(.stepStarted(job: job.id, step: masker(name), index: index + 1, count: steps.count, attempt: context.attempt))
            } else {
                observer.handle(.output(job: job.id, line: "\(label): \(masker(name))"))
            }
            log.mark("-- \(label): \(masker(name)) --")
            let clock = ContinuousClock()
            let stepStart = clock.now
            var outcome: (failure: String?, outputs: [String: String], exitCode: Int32?)
            if problem == nil, let verify = frame.verify { problem = verify() }
            if let problem {
                outcome = ("step `\(name)`: \(problem)", [:], nil)
                emitLine(job.id, "error: \(masker(problem))", log)
            } else if let script {
                outcome = await runScript(
                    script, step: step, name: name, context: context, frame: frame, actionID: actionID, stepEnv: stepEnv, directory: directory,
                    timeout: stepTimeout, state: &state, pgids: &pgids)
            } else if let action = resolvedAction(step) {
                outcome = await runComposite(
                    action, name: name, inputs: inputs, stepEnv: stepEnv, callerScope: stepScope, prefix: "\(frame.prefix)\(index + 1).",
                    depth: frame.depth + 1, actionID: actionID, timeout: stepTimeout,
                    context: context, state: &state, pgids: &pgids, result: &result)
            } else if let uses = step.uses, let why = runtime?.actions[uses].flatMap(Self.problem) {
                outcome = ("step `\(name)`: \(why)", [:], nil)
                emitLine(job.id, "error: \(masker(why))", log)
            } else if let uses = step.uses, NativeAction(uses: uses) == .shipgate {
                outcome = await runShipgateAction(
                    inputs, name: name, context: context, frame: frame, actionID: actionID, stepEnv: stepEnv, timeout: stepTimeout, state: &state,
                    pgids: &pgids)
            } else if let uses = step.uses, let action = NativeAction(uses: uses) {
                var native = NativeActionContext(
                    job: job, workspace: context.workspace, temp: context.temp, inputs: inputs, env: state.envContext(stepEnv), log: log, executor: self)
                outcome = (runNative(action, uses: uses, context: &native, state: &state), native.outputs, nil)
            } else {
                outcome = ("step `\(name)`: `uses: \(step.uses ?? "")` is not run by shipgate", [:], nil)
            }
            let elapsed = TimeSpan(milliseconds: (clock.now - stepStart).milliseconds)
            result.exitCode = outcome.exitCode ?? (outcome.failure == nil ? 0 : 1)
            if frame.depth == 0 {
                observer.handle(.stepFinished(job: job.id, step: masker(name), exitCode: result.exitCode ?? 0, duration: elapsed))
            }
            // Kept as they are: `steps.<id>.outputs` hold the real values (a job output that
            // holds a secret is dropped when the job ends); only what is shown is masked.
            let outputs = outcome.outputs
            if let failure = outcome.failure {
                log.mark("-- \(label) failed\(continueOnError ? " (continue-on-error)" : ""): \(masker(failure)) in \(elapsed) --")
                record(step, outcome: "failure", conclusion: continueOnError ? "success" : "failure", outputs: outputs, frame: &frame)
                if continueOnError {
                    emitLine(job.id, "warning: \(masker(failure)) (continue-on-error)", log)
                } else {
                    frame.failed = true
                    frame.firstFailure = frame.firstFailure ?? failure
                }
            } else {
                log.mark("-- \(label) finished in \(elapsed) --")
                record(step, outcome: "success", conclusion: "success", outputs: outputs, frame: &frame)
            }
        }
    }

    /// A local composite action: its inputs (given, else defaults), its steps in a frame of
    /// their own, then its outputs from that frame's `steps`.
    private func runComposite(
        _ action: CompositeAction, name: String, inputs given: [String: String], stepEnv: [(String, String)], callerScope: ExpressionScope, prefix: String,
        depth: Int, actionID: String, timeout: TimeSpan?, context: WorkflowJobContext, state: inout WorkflowJobState, pgids: inout [Int32],
        result: inout JobResult
    ) async -> (failure: String?, outputs: [String: String], exitCode: Int32?) {
        let inputs: [String: String]
        do { inputs = try actionInputs(action, given: given, scope: callerScope, context: context) } catch {
            return ("\(action.path): an input's default: \(error.message)", [:], nil)
        }
        let directory = action.resolvedDirectory(workspace: context.workspace, selfActions: options.workflow?.selfActions ?? [:])
        let verify = actionVerifier(action, workspace: context.workspace)
        if let script = action.javascript {
            let call = JavaScriptCall(
                action: action, script: script, name: name, actionID: actionID, stateKey: String(prefix.dropLast()), inputs: inputs, stepEnv: stepEnv,
                verify: verify)
            var frame = StepFrame(actionPath: directory, inherited: stepEnv, prefix: prefix, depth: depth)
            frame.verify = verify
            let outcome = await runJavaScript(call, stage: .main, context: context, frame: frame, timeout: timeout, state: &state, pgids: &pgids)
            // The post stage is owed once the main was started, whatever its outcome.
            if script.post != nil && outcome.launched {
                state.posts.append(PostStep(name: "Post \(name)", onlyOnSuccess: false, run: { nil }, javascript: call))
            }
            return (outcome.failure, outcome.outputs, outcome.exitCode)
        }
        if let problem = verify?() { return (problem, [:], nil) }
        let values = action.inputs.map { ($0.name, ExpressionValue.string(inputs[$0.name] ?? "")) }
        var frame = StepFrame(inputs: .object(ExpressionObject(values)), actionPath: directory, inherited: stepEnv, prefix: prefix, depth: depth)
        frame.verify = verify
        await runStepList(
            action.steps.map { ($0, $0.name ?? WorkflowStepNames.defaultName($0)) }, frame: &frame, context: context, state: &state, pgids: &pgids,
            result: &result)
        var outputs: [String: String] = [:]
        let outputScope = scope(context.contexts, state: state, frame: frame, stepEnv: stepEnv)
        for output in action.outputs {
            do { outputs[output.name] = try ExpressionTemplate.parse(output.text).text(in: outputScope) } catch {
                emitLine(context.job.id, "warning: output `\(output.name)` of \(action.path): \(error.message)", context.log)
            }
        }
        if frame.failed { return ("\(action.path) (step `\(name)`): \(frame.firstFailure ?? "a step failed")", outputs, nil) }
        if frame.stoppedByCancellation, let reason = cancellation.reason { return ("cancelled: \(reason)", outputs, nil) }
        return (nil, outputs, 0)
    }

    /// `<parent>/shipgate-<uid>/<name>`, in a directory private to the user (0700, owned by
    /// them, not a link), or nil when `parent` cannot hold one. Step scripts and file-command
    /// files go under `/dev/shm` when it can: six small files are created and removed per step,
    /// and on ext4 that churn (its search past recently deleted inodes) cost more than the
    /// step's own process; else under `$RUNNER_TEMP`. Both are removed when the job ends.
    static func privateDirectory(under parent: String, name: String) -> String? {
        var st = stat()
        guard stat(parent, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, access(parent, W_OK | X_OK) == 0 else { return nil }
        let base = "\(parent)/shipgate-\(getuid())"
        if mkdir(base, 0o700) != 0 && errno != EEXIST { return nil }
        // Refuse a directory another user made, or a link planted in its place.
        guard lstat(base, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, st.st_uid == getuid() else { return nil }
        chmod(base, 0o700)
        return "\(base)/\(name)"
    }

    /// `github.job` / `GITHUB_JOB`: the job's id as its workflow names it (`build`, not the
    /// `caller/build` shipgate gives a called workflow's job).
    static func githubJob(_ job: PlannedJob) -> String {
        guard let call = job.github?.call, job.job.hasPrefix(call.caller + "/") else { return job.job }
        return String(job.job.dropFirst(call.caller.count + 1))
    }

    /// GitHub's id for a step in `github.action`: its `id`, else `__run` (`__run_2`, …) or
    /// `__owner_repo` for an action.
    func actionName(_ step: GitHubStep, state: inout WorkflowJobState) -> String {
        if let id = step.id { return id }
        var base = "__run"
        if let uses = step.uses {
            base = "__" + (uses.split(separator: "@").first ?? "").replacing("/", with: "_")
        }
        let n = state.actionNames[base, default: 0] + 1
        state.actionNames[base] = n
        return n == 1 ? base : "\(base)_\(n)"
    }

    private func record(_ step: GitHubStep, outcome: String, conclusion: String, outputs: [String: String], frame: inout StepFrame) {
        guard let id = step.id else { return }
        let value = ExpressionValue.object(
            ExpressionObject([("outputs", WorkflowValues.object(outputs)), ("outcome", .string(outcome)), ("conclusion", .string(conclusion))]))
        frame.steps.removeAll { $0.id == id }
        frame.steps.append((id, value))
    }

    /// The contexts that do not change between the steps of a job.
    private func workflowContexts(_ job: PlannedJob, github: GitHubJob, workspace: String, temp: String, needs: ExpressionValue) -> [String:
        ExpressionValue]
    {
        let runtime = options.workflow
        return [
            "github": .object(overriding(runtime?.github, ["job": .string(Self.githubJob(job)), "workspace": .string(workspace)])),
            "vars": WorkflowValues.object(runtime?.vars ?? [:]),
            "secrets": WorkflowValues.object(runtime?.secrets ?? [:]),
            "inputs": .object(ExpressionObject(runtime?.inputs ?? [:])),
            "matrix": WorkflowValues.matrix(job.matrix),
            "strategy": WorkflowValues.strategy(github, index: job.variantIndex),
            "needs": needs,
            "runner": .object(
                ExpressionObject([
                    ("os", .string(WorkflowSettings.currentOS)), ("arch", .string(WorkflowSettings.currentArch)), ("name", .string("shipgate")),
                    ("temp", .string(temp)), ("tool_cache", .string(toolCache)), ("environment", .string("self-hosted")),
                    ("debug", .string(runtime?.debug == true ? "1" : "")), ("workspace", .string((workspace as NSString).deletingLastPathComponent)),
                ])),
        ]
    }

    static func problem(_ fetched: WorkflowRuntime.FetchedAction) -> String? {
        switch fetched {
        case .action: nil
        case .refused(let why), .unavailable(let why): why
        }
    }

    /// The job-level scope (no step env) with the status functions of the job so far.
    func jobScope(_ context: WorkflowJobContext, state: WorkflowJobState, frame: StepFrame) -> ExpressionScope {
        let failed = frame.failed
        let cancelled = cancellation.isCancelled
        var base = scope(context.contexts, state: state, frame: frame, stepEnv: [])
        base.status = { status in
            switch status {
            case .always: true
            case .success: !failed && !cancelled
            case .failure: failed
            case .cancelled: cancelled
            }
        }
        return base
    }

    func scope(_ contexts: [String: ExpressionValue], state: WorkflowJobState, frame: StepFrame, stepEnv: [(String, String)]) -> ExpressionScope {
        let root = options.workspace
        let skip = stateSkip(root)
        return ExpressionScope(contexts: objects(contexts, state: state, frame: frame, stepEnv: stepEnv), status: nil) { patterns in
            try WorkflowHashFiles.hash(patterns, root: root, skip: skip)
        }
    }

    func objects(_ contexts: [String: ExpressionValue], state: WorkflowJobState, frame: StepFrame, stepEnv: [(String, String)]) -> ExpressionObject {
        var all = contexts
        all["env"] = WorkflowValues.object(state.envContext(stepEnv))
        all["steps"] = .object(ExpressionObject(frame.steps.map { ($0.id, $0.value) }))
        all["job"] = .object(
            ExpressionObject([
                ("status", .string(cancellation.isCancelled ? "cancelled" : frame.failed ? "failure" : "success")), ("services", state.services),
            ]))
        if let inputs = frame.inputs { all["inputs"] = inputs }
        return ExpressionObject(all)
    }

    private func overriding(_ base: ExpressionObject?, _ values: [String: ExpressionValue]) -> ExpressionObject {
        let base = base ?? ExpressionObject([])
        var pairs = zip(base.keys, base.orderedValues).filter { values[$0.0.lowercased()] == nil }.map { ($0.0, $0.1) }
        pairs += values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return ExpressionObject(pairs)
    }

    var toolCache: String {
        options.baseEnvironment["SHIPGATE_TOOLCACHE"] ?? options.baseEnvironment["RUNNER_TOOL_CACHE"] ?? "/opt/hostedtoolcache"
    }
}
