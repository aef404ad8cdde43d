import Foundation
import ShipgateCache
import ShipgateExpressions
import ShipgateModel
import ShipgatePlanning

/// JavaScript actions (`runs.using: node20|node24`) as GitHub's runner runs them on a host.
///
/// Contract (docs.github.com, "Metadata syntax for GitHub Actions", `runs` for JavaScript
/// actions; actions/runner's NodeScriptActionHandler):
/// - `pre` runs before the job's first step, for each step of the job (not of a composite
///   action) whose action has one and whose `pre-if` (default `always()`) holds, in step order;
///   `main` runs as the step; `post` runs at the job's end, in reverse order of the mains that
///   ran (also after a failure), when its `post-if` (default `always()`) holds. A failing `pre`
///   or `post` fails the job.
/// - Each stage is `node <action dir>/<script>` in `$GITHUB_WORKSPACE`, with the step's
///   environment, `INPUT_<NAME>` for every input given in `with:` and every default
///   (upper-cased, spaces as `_`), `GITHUB_ACTION_PATH`, `GITHUB_ACTION_REPOSITORY`,
///   `GITHUB_ACTION_REF`, the file commands, `STATE_<name>` for what an earlier stage of the
///   same step saved with `$GITHUB_STATE`, and the cache service's variables.
/// - `node` is the one the run chose for the action's major version (`WorkflowRuntime.node`);
///   without one the step fails with what to install.
extension JobExecutor {
    enum JavaScriptStage: String {
        case pre, main, post

        /// How the runner names the stage's step (`Pre Run x`, `Post Run x`).
        var label: String { self == .pre ? "Pre" : "Post" }
    }

    /// What a stage needs of the step that runs the action.
    struct JavaScriptCall: Sendable {
        var action: CompositeAction
        var script: JavaScriptAction
        var name: String
        var actionID: String
        /// The key of the step's saved state (its place in the job: `3`, `2.1`).
        var stateKey: String
        var inputs: [String: String]
        var stepEnv: [(String, String)]
        var verify: (@Sendable () -> String?)?
    }

    /// `INPUT_<NAME>` as the runner names it.
    static func inputVariable(_ name: String) -> String { "INPUT_" + name.replacing(" ", with: "_").uppercased() }

    func runJavaScript(
        _ call: JavaScriptCall, stage: JavaScriptStage, context: WorkflowJobContext, frame: StepFrame, timeout: TimeSpan?, state: inout WorkflowJobState,
        pgids: inout [Int32]
    ) async -> (failure: String?, outputs: [String: String], exitCode: Int32?, launched: Bool) {
        let label = stage == .main ? call.name : "\(stage.label) \(call.name)"
        let script: String? =
            switch stage {
            case .pre: call.script.pre
            case .main: call.script.main
            case .post: call.script.post
            }
        guard let script else { return (nil, [:], 0, false) }
        let wanted = call.script.nodeMajor
        guard let node = options.workflow?.node[wanted], let binary = node.path else {
            let why = options.workflow?.node[wanted]?.problem ?? "no Node.js \(wanted) or newer was found"
            return ("step `\(label)`: \(call.action.path) is a JavaScript action (`using: \(call.script.using)`): \(why)", [:], nil, false)
        }
        if let warning = node.warning { emitLine(context.job.id, "warning: \(call.action.path): \(warning)", context.log) }
        if let verify = call.verify, let problem = verify() { return ("step `\(label)`: \(problem)", [:], nil, false) }
        let directory = call.action.resolvedDirectory(workspace: context.workspace, selfActions: options.workflow?.selfActions ?? [:])
        // The script may be beside the action (`../lib/main.js`, as in multi-action repositories),
        // never outside its repository's tree (the fetched tree, the workspace, the `$/` copy).
        let treeRoot = call.action.remote?.treeRoot ?? (call.action.fromCommit ? directory : context.workspace)
        let entry = URL(fileURLWithPath: directory).appendingPathComponent(script).standardizedFileURL.resolvingSymlinksInPath().path
        let root = URL(fileURLWithPath: treeRoot).resolvingSymlinksInPath().path
        guard entry.hasPrefix(root + "/"), FileManager.default.fileExists(atPath: entry) else {
            return ("step `\(label)`: \(call.action.path): `runs.\(stage.rawValue)` names \(script), which is not in the action's repository", [:], nil, false)
        }
        var extra: [String: String] = [:]
        for (key, value) in call.inputs { extra[Self.inputVariable(key)] = value }
        for (key, value) in state.saved[call.stateKey] ?? [:] { extra["STATE_" + key] = value }
        for (key, value) in options.workflow?.serviceVariables ?? [:] { extra[key] = value }
        extra["GITHUB_ACTION_PATH"] = directory
        if let remote = call.action.remote {
            extra["GITHUB_ACTION_REPOSITORY"] = remote.repository
            extra["GITHUB_ACTION_REF"] = remote.ref
        }
        var jsFrame = frame
        jsFrame.actionPath = directory
        let outcome = await runStepProcess(
            [binary, entry], name: label, context: context, frame: jsFrame, actionID: call.actionID, stepEnv: call.stepEnv, directory: context.workspace,
            timeout: timeout, extra: extra, state: &state, pgids: &pgids)
        if !outcome.saved.isEmpty { state.saved[call.stateKey, default: [:]].merge(outcome.saved) { _, new in new } }
        return (outcome.failure, outcome.outputs, outcome.exitCode, true)
    }

    /// Runs the `pre` of every step of the job whose JavaScript action has one (see the
    /// contract); a failure fails the job before its first step.
    func runPreSteps(
        _ steps: [(GitHubStep, String)], frame: inout StepFrame, context: WorkflowJobContext, state: inout WorkflowJobState, pgids: inout [Int32]
    ) async {
        // The ids the steps will get (`__owner_repo`, `__owner_repo_2`): a pre's `GITHUB_ACTION` is its main's.
        var names = state
        let ids = steps.map { actionName($0.0, state: &names) }
        for (index, (step, declaredName)) in steps.enumerated() {
            guard let action = resolvedAction(step), let script = action.javascript, script.pre != nil else { continue }
            let scope = jobScope(context, state: state, frame: frame)
            guard conditionHolds(script.preIf, stage: .pre, name: declaredName, action: action, scope: scope, context: context, frame: &frame) else {
                continue
            }
            var inputs: [String: String] = [:]
            do {
                inputs = try actionInputs(action, step: step, scope: scope, context: context)
            } catch {
                frame.failed = true
                frame.firstFailure = frame.firstFailure ?? "step `\(declaredName)`: \(error.message)"
                continue
            }
            let name = step.name ?? declaredName
            let call = JavaScriptCall(
                action: action, script: script, name: name, actionID: ids[index], stateKey: "\(index + 1)",
                inputs: inputs, stepEnv: [], verify: actionVerifier(action, workspace: context.workspace))
            await runStage(call, .pre, context: context, frame: &frame, state: &state, pgids: &pgids)
        }
    }

    /// The post stage left by a main that ran: runs when its `post-if` holds at the job's end.
    func runJavaScriptPost(_ call: JavaScriptCall, context: WorkflowJobContext, frame: inout StepFrame, state: inout WorkflowJobState, pgids: inout [Int32])
        async
    {
        let scope = jobScope(context, state: state, frame: frame)
        guard conditionHolds(call.script.postIf, stage: .post, name: call.name, action: call.action, scope: scope, context: context, frame: &frame) else {
            return
        }
        await runStage(call, .post, context: context, frame: &frame, state: &state, pgids: &pgids)
    }

    /// `pre-if` / `post-if` (default `always()`): false skips the stage (logged); an invalid
    /// condition fails the job.
    private func conditionHolds(
        _ written: String?, stage: JavaScriptStage, name: String, action: CompositeAction, scope: ExpressionScope, context: WorkflowJobContext,
        frame: inout StepFrame
    ) -> Bool {
        let condition = written ?? "always()"
        do {
            guard try IfCondition.parse(condition).holds(in: scope) else {
                context.log.mark("-- \(stage.label) \(masker(name)): skipped (\(stage.rawValue)-if: \(condition)) --")
                return false
            }
            return true
        } catch {
            frame.failed = true
            frame.firstFailure = frame.firstFailure ?? "`\(stage.rawValue)-if` of \(action.path): \(error.message)"
            return false
        }
    }

    /// A `pre` or `post` stage, shown as a step of its own; its failure fails the job.
    private func runStage(
        _ call: JavaScriptCall, _ stage: JavaScriptStage, context: WorkflowJobContext, frame: inout StepFrame, state: inout WorkflowJobState,
        pgids: inout [Int32]
    ) async {
        context.log.mark("-- \(stage.label) \(masker(call.name)) --")
        observer.handle(.output(job: context.job.id, line: "\(stage.label) \(masker(call.name))"))
        let outcome = await runJavaScript(call, stage: stage, context: context, frame: frame, timeout: nil, state: &state, pgids: &pgids)
        if let failure = outcome.failure {
            emitLine(context.job.id, "error: \(masker(failure))", context.log)
            frame.failed = true
            frame.firstFailure = frame.firstFailure ?? failure
        }
    }

    /// shipgate's own action (`NativeAction.shipgate`), as its `action.yml` runs it: `shipgate run
    /// [pipeline] --job … ARGS` with the step's environment, so `--output github` writes the
    /// action's outputs (`run-id`, `status`, `blocked`, `jobs`, `outputs`) to `$GITHUB_OUTPUT`;
    /// `install-only: true` runs nothing and gives `bin`, this shipgate's directory. `version`
    /// is not built: the running shipgate is used, and said.
    func runShipgateAction(
        _ inputs: [String: String], name: String, context: WorkflowJobContext, frame: StepFrame, actionID: String, stepEnv: [(String, String)],
        timeout: TimeSpan?, state: inout WorkflowJobState, pgids: inout [Int32]
    ) async -> (failure: String?, outputs: [String: String], exitCode: Int32?) {
        guard let binary = options.helperExecutable else { return ("step `\(name)`: the running shipgate's path is unknown", [:], nil) }
        let bin = (binary as NSString).deletingLastPathComponent
        if let version = inputs["version"], !version.isEmpty {
            emitLine(context.job.id, "warning: shipgate action: `version: \(version)` is not built here; the running shipgate is used", context.log)
        }
        if inputs["install-only"]?.lowercased() == "true" {  // the action's `!= 'true'` ignores case
            emitLine(context.job.id, "shipgate action: install-only, the running shipgate (\(binary))", context.log)
            return (nil, ["bin": bin], 0)
        }
        var argv = [binary, "run"]
        if let pipeline = inputs["pipeline"], !pipeline.isEmpty { argv.append(pipeline) }
        // As action.yml reads them: each non-empty line of `jobs` as is (`IFS= read -r`), and the
        // first line of `args` split on blanks (`read -r -a`).
        for job in (inputs["jobs"] ?? "").split(whereSeparator: \.isNewline).map(String.init) where !job.isEmpty {
            argv += ["--job", job]
        }
        let firstLine = (inputs["args"] ?? "").split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        argv += firstLine.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let outcome = await runStepProcess(
            argv, name: name, context: context, frame: frame, actionID: actionID, stepEnv: stepEnv, directory: context.workspace, timeout: timeout,
            state: &state, pgids: &pgids)
        var outputs = outcome.outputs
        outputs["bin"] = bin
        return (outcome.failure, outputs, outcome.exitCode)
    }

    /// The first action the steps need (through fetched composite actions) that could not be
    /// fetched: the job fails with it as it sets up.
    func unavailableAction(_ steps: [GitHubStep]) -> String? {
        WorkflowRuntime.firstProblem(steps, actions: options.workflow?.actions ?? [:]) {
            if case .unavailable(let why) = $0 { why } else { nil }
        }?.why
    }

    /// The action a step runs from a directory: the local one the loader read, or the fetched
    /// one of another repository; nil for `run`, native and refused actions.
    func resolvedAction(_ step: GitHubStep) -> CompositeAction? {
        if let local = step.composite { return local }
        guard let uses = step.uses, NativeAction(uses: uses) == nil, case .action(let action)? = options.workflow?.actions[uses] else { return nil }
        return action
    }

    /// Inputs of an action for its step: `with:` (evaluated), then the declared defaults
    /// (templates, evaluated in the step's scope); an input not given and without default is
    /// the empty string. Unexpected inputs are kept (the runner warns and passes them on).
    func actionInputs(_ action: CompositeAction, step: GitHubStep, scope: ExpressionScope, context: WorkflowJobContext) throws(ExpressionError) -> [String:
        String]
    {
        var given: [String: String] = [:]
        for entry in step.with { given[entry.name] = try ExpressionTemplate.parse(entry.text).text(in: scope) }
        return try actionInputs(action, given: given, scope: scope, context: context, warn: false)
    }

    /// `warn`: say which inputs are unexpected or missing (once, for the main stage).
    func actionInputs(_ action: CompositeAction, given: [String: String], scope: ExpressionScope, context: WorkflowJobContext, warn: Bool = true)
        throws(ExpressionError) -> [String: String]
    {
        var values = given
        let declared = Set(action.inputs.map { $0.name.lowercased() })
        for key in given.keys.sorted() where warn && !declared.contains(key.lowercased()) {
            emitLine(
                context.job.id, "warning: unexpected input `\(key)` for \(action.path) (it declares: \(action.inputs.map(\.name).joined(separator: ", ")))",
                context.log)
        }
        for input in action.inputs where !given.keys.contains(where: { $0.lowercased() == input.name.lowercased() }) {
            if let text = input.defaultText {
                values[input.name] = try ExpressionTemplate.parse(text).text(in: scope)
            } else {
                if input.required && warn {
                    emitLine(context.job.id, "warning: input `\(input.name)` of \(action.path) is required and not given", context.log)
                }
                values[input.name] = ""
            }
        }
        return values
    }

    /// Checks, before each use, that an action's extracted files are still those the run
    /// extracted (`$/` actions and actions of other repositories); nil for a working-tree one.
    func actionVerifier(_ action: CompositeAction, workspace: String) -> (@Sendable () -> String?)? {
        let directory = action.resolvedDirectory(workspace: workspace, selfActions: options.workflow?.selfActions ?? [:])
        let expected: [String: String]?
        let what: String
        var checked = directory
        if let remote = action.remote {
            // The whole fetched tree: an action may run files beside its own directory.
            checked = remote.treeRoot
            expected = options.workflow?.actionDigests[checked]
            what = "its fetched copy"
        } else if action.fromCommit {
            expected = options.workflow?.selfActionDigests[action.directory]
            what = "its committed copy"
        } else {
            return nil
        }
        guard let expected else { return nil }
        let path = action.path
        return { [checked] in
            let actual = ActionFiles.digests(checked)
            guard actual != expected else { return nil }
            let changed = Set(actual.keys).union(expected.keys).filter { actual[$0] != expected[$0] }.sorted()
            return "\(path): \(what) changed during the run (\(changed.prefix(3).joined(separator: ", "))); refusing it"
        }
    }
}

/// The files of an extracted action, for the check before each use.
public enum ActionFiles {
    /// Every entry under `directory` (hidden ones too, links not followed) by relative path:
    /// a file's SHA-256, a link's target (`-> target`), so changing a file, adding one or
    /// re-pointing a link all show.
    public static func digests(_ directory: String) -> [String: String] {
        var out: [String: String] = [:]
        func walk(_ relative: String, depth: Int) {
            guard depth < 64 else { return }
            let path = relative.isEmpty ? directory : directory + "/" + relative
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
            for name in names {
                let child = relative.isEmpty ? name : relative + "/" + name
                let full = directory + "/" + child
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: walk(child, depth: depth + 1)
                case S_IFLNK: out[child] = "-> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "")
                case S_IFREG: out[child] = (try? Digest.file(full).digest) ?? ""
                default: out[child] = "special"
                }
            }
        }
        walk("", depth: 0)
        return out
    }
}
