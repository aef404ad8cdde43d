import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateExpressions
import ShipgateGit
import ShipgateModel
import ShipgatePlanning
import ShipgateRelease

/// Options that apply when the file is a GitHub Actions workflow: the event it runs for, its
/// inputs and `vars`, which matrix variants, and which `runs-on` labels this host serves.
struct WorkflowOptions: ParsableArguments {
    @Option(help: "The event a GitHub workflow runs for (push, pull_request, workflow_dispatch, …; default push).")
    var event: String = "push"

    @Option(help: "A JSON file with the event's payload (`github.event`); default: one built from the git context.", completion: .file())
    var eventFile: String?

    @Option(name: .customLong("input"), help: "An input of workflow_dispatch / workflow_call: NAME=VALUE (repeatable).")
    var inputs: [String] = []

    @Option(name: .customLong("var"), help: "A `vars` value: NAME=VALUE (repeatable).")
    var vars: [String] = []

    @Option(help: "A file of NAME=VALUE lines for `vars`.", completion: .file())
    var varsFile: String?

    @Option(name: .customLong("matrix"), help: "Only the matrix variants with KEY=VALUE (repeatable).")
    var matrix: [String] = []

    @Option(name: .customLong("runner"), help: "Run jobs whose `runs-on` has LABEL here: LABEL=host (repeatable).")
    var runners: [String] = []

    @Flag(help: "Run the workflow even when its `on:` does not trigger on the event or its filters do not match.")
    var ignoreTriggers = false

    @Option(help: "The pushed ref: refs/heads/BRANCH or refs/tags/TAG (default: the current branch; a detached HEAD's tag).")
    var ref: String?

    @Option(
        help: ArgumentHelp(
            "Where actions of other repositories are fetched from: URL/owner/repo (default $SHIPGATE_ACTIONS_URL, else https://github.com).",
            discussion: "A mirror, or a file:// directory holding owner/repo bare repositories, works the same."))
    var actionsURL: String?

    @Flag(help: "Use only actions already in the action cache; never fetch.")
    var offline = false

    @Flag(help: "Refuse jobs that use an action of another repository by a tag or branch instead of a full commit SHA.")
    var requirePinned = false

    /// The action cache and where it fetches from (`--actions-url`, `SHIPGATE_ACTIONS_URL`).
    func actionRepositories(environment: [String: String] = ProcessInfo.processInfo.environment) -> ActionRepositories {
        let cacheHome = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")
        let root = environment["SHIPGATE_ACTIONS_CACHE"] ?? cacheHome + "/shipgate/actions"
        let url = actionsURL ?? environment["SHIPGATE_ACTIONS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? ActionRepositories.defaultURL
        return ActionRepositories(root: root, baseURL: url, offline: offline)
    }

    /// The ref the event is about: `--ref`, else the branch checked out, else (detached) a tag
    /// of HEAD. A tagged commit on a branch is a branch push unless `--ref refs/tags/…` says.
    func pushedRef(_ context: RunContext) -> (ref: String, name: String, isTag: Bool)? {
        if let ref {
            if ref.hasPrefix("refs/tags/") { return (ref, String(ref.dropFirst(10)), true) }
            let name = ref.hasPrefix("refs/heads/") ? String(ref.dropFirst(11)) : ref
            return ("refs/heads/" + name, name, false)
        }
        if let branch = context.git?.branch { return ("refs/heads/" + branch, branch, false) }
        if let tag = context.git?.tags.first { return ("refs/tags/" + tag, tag, true) }
        return nil
    }

    /// `NAME=VALUE` pairs; exits 2 on a malformed one.
    private func pairs(_ list: [String], option: String) throws -> [(String, String)] {
        try list.map { item in
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw ValidationError("--\(option) \(item): expected NAME=VALUE")
            }
            return (String(item[..<eq]), String(item[item.index(after: eq)...]))
        }
    }

    /// The `github` context and the settings the planner decides workflow jobs with.
    func settings(pipeline: Pipeline, context: RunContext, workspace: String, rules: RuleInputs?, runID: String = "0") throws -> WorkflowSettings {
        var vars: [String: String] = [:]
        if let varsFile { vars = try SecretSource.parseFile(varsFile) }
        for (k, v) in try pairs(self.vars, option: "var") { vars[k] = v }
        var inputs: [String: ExpressionValue] = [:]
        let declared = pipeline.triggers.first { $0.event == event || ($0.event == "workflow_call" && event == "workflow_dispatch") }?.inputs ?? []
        for input in declared {
            if let json = input.defaultJSON { inputs[input.name] = (try? ExpressionValue.parseJSON(json)) ?? .string(json) }
        }
        for (k, v) in try pairs(self.inputs, option: "input") {
            let type = declared.first { $0.name == k }?.type
            if !declared.isEmpty && type == nil {
                throw ValidationError("--input \(k): the workflow declares no such input (inputs: \(declared.map(\.name).joined(separator: ", ")))")
            }
            switch type {
            case "boolean": inputs[k] = .bool(v.lowercased() == "true")
            case "number": inputs[k] = .number(ExpressionValue.parseNumber(v))
            default: inputs[k] = .string(v)
            }
        }
        for input in declared where input.required && inputs[input.name] == nil {
            throw ValidationError("input `\(input.name)` is required by the workflow: pass --input \(input.name)=VALUE")
        }
        let labels = Set(
            try pairs(runners, option: "runner").map { label, target in
                guard target == "host" else { throw ValidationError("--runner \(label)=\(target): only `host` is supported (LABEL=host)") }
                return label
            })
        if let ref, ref.hasPrefix("refs/"), !ref.hasPrefix("refs/heads/"), !ref.hasPrefix("refs/tags/") {
            throw ValidationError("--ref \(ref): expected refs/heads/BRANCH, refs/tags/TAG or a branch name")
        }
        let pushed = pushedRef(context)
        let github = try Self.github(
            event: event, eventFile: eventFile, context: context, workspace: workspace, pipeline: pipeline, inputs: inputs, rules: rules, runID: runID,
            pushed: pushed)
        // Trigger filters decide on the pushed ref, not on every tag of HEAD.
        var triggerRules = rules
        triggerRules?.branch = pushed?.isTag == false ? pushed?.name : nil
        triggerRules?.tags = pushed?.isTag == true ? [pushed!.name] : []
        var settings = WorkflowSettings(
            event: event, github: github, vars: vars, inputs: inputs, runnerLabels: labels, matrixFilter: try pairs(matrix, option: "matrix").map { ($0, $1) },
            ignoreTriggers: ignoreTriggers, rules: triggerRules)
        settings.requirePinned = requirePinned
        return settings
    }

    /// The repository as GitHub names it: `GITHUB_REPOSITORY`, else `owner/name` from the
    /// `origin` remote's URL, else `local/<directory>`.
    static func repository(workspace: String, environment: [String: String]) -> String {
        if let r = environment["GITHUB_REPOSITORY"], r.contains("/") { return r }
        if let repo = try? Repository.discover(at: workspace), let url = repo.config("remote.origin.url") {
            var path = url
            if let colon = path.lastIndex(of: ":"), !path.contains("://") { path = String(path[path.index(after: colon)...]) }
            let parts = path.split(separator: "/").suffix(2).map(String.init)
            if parts.count == 2 {
                let name = parts[1].hasSuffix(".git") ? String(parts[1].dropLast(4)) : parts[1]
                return parts[0] + "/" + name
            }
        }
        return "local/" + ((workspace as NSString).lastPathComponent)
    }

    static func github(
        event: String, eventFile: String?, context: RunContext, workspace: String, pipeline: Pipeline, inputs: [String: ExpressionValue], rules: RuleInputs?,
        runID: String, pushed: (ref: String, name: String, isTag: Bool)?
    ) throws -> ExpressionObject {
        let environment = ProcessInfo.processInfo.environment
        let repository = repository(workspace: workspace, environment: environment)
        let git = context.git
        let pushed = pushed
        let tag: String? = pushed?.isTag == true ? pushed!.name : nil
        let ref = pushed?.ref ?? ""
        let refName = pushed?.name ?? ""
        let owner = String(repository.split(separator: "/").first ?? "")
        let sha = git?.commit ?? ""
        var payload: ExpressionValue
        if let eventFile {
            guard let text = try? String(contentsOfFile: eventFile, encoding: .utf8) else { throw ValidationError("--event-file \(eventFile): cannot read it") }
            do { payload = try ExpressionValue.parseJSON(text) } catch { throw ValidationError("--event-file \(eventFile): not JSON: \(error.message)") }
        } else {
            var fields: [(String, ExpressionValue)] = [
                (
                    "repository",
                    .object(
                        ExpressionObject([
                            ("full_name", .string(repository)), ("name", .string(String(repository.split(separator: "/").last ?? ""))),
                            ("owner", .object(ExpressionObject([("login", .string(owner))]))), ("default_branch", .string("main")),
                        ]))
                ),
                ("sender", .object(ExpressionObject([("login", .string(context.actor))]))),
            ]
            switch event {
            case "push":
                fields += [
                    ("ref", .string(ref)), ("after", .string(sha)),
                    ("head_commit", .object(ExpressionObject([("id", .string(sha)), ("message", .string(git?.subject ?? ""))]))),
                ]
            case "pull_request", "pull_request_target":
                let base = rules?.base.map { $0.hasPrefix("origin/") ? String($0.dropFirst(7)) : $0 } ?? "main"
                fields += [
                    ("action", .string("synchronize")), ("number", .number(1)),
                    (
                        "pull_request",
                        .object(
                            ExpressionObject([
                                ("number", .number(1)), ("head", .object(ExpressionObject([("ref", .string(git?.branch ?? "")), ("sha", .string(sha))]))),
                                ("base", .object(ExpressionObject([("ref", .string(base))]))), ("draft", .bool(false)), ("labels", .array(ExpressionArray([]))),
                            ]))
                    ),
                ]
            case "workflow_dispatch", "workflow_call":
                // `github.event.inputs` holds text; the `inputs` context keeps booleans and numbers.
                fields += [
                    ("ref", .string(ref)), ("inputs", .object(ExpressionObject(inputs.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.text)) }))),
                ]
            default: break
            }
            payload = .object(ExpressionObject(fields))
        }
        let isPR = event.hasPrefix("pull_request")
        let prBase = rules?.base.map { $0.hasPrefix("origin/") ? String($0.dropFirst(7)) : $0 } ?? "main"
        let values: [(String, ExpressionValue)] = [
            ("event_name", .string(event)), ("event", payload), ("sha", .string(sha)), ("ref", .string(isPR ? "refs/pull/1/merge" : ref)),
            ("ref_name", .string(isPR ? "1/merge" : refName)), ("ref_type", .string(tag != nil ? "tag" : "branch")),
            ("head_ref", .string(isPR ? git?.branch ?? "" : "")), ("base_ref", .string(isPR ? prBase : "")),
            ("repository", .string(repository)), ("repository_owner", .string(owner)), ("actor", .string(context.actor)),
            ("triggering_actor", .string(context.actor)), ("workflow", .string(pipeline.name)), ("run_id", .string(runID)),
            ("run_number", .string("1")), ("run_attempt", .string("1")), ("server_url", .string("https://github.com")),
            ("api_url", .string("https://api.github.com")), ("graphql_url", .string("https://api.github.com/graphql")),
            ("workspace", .string(workspace)), ("retention_days", .string("90")), ("token", .string("")),
        ]
        return ExpressionObject(values)
    }

    /// The default variables GitHub sets in every step, from the `github` context.
    static func variables(_ github: ExpressionObject, eventPath: String) -> [String: String] {
        func t(_ key: String) -> String { github[key]?.text ?? "" }
        return [
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_ACTOR": t("actor"), "GITHUB_TRIGGERING_ACTOR": t("triggering_actor"),
            "GITHUB_REPOSITORY": t("repository"), "GITHUB_REPOSITORY_OWNER": t("repository_owner"), "GITHUB_EVENT_NAME": t("event_name"),
            "GITHUB_EVENT_PATH": eventPath, "GITHUB_SHA": t("sha"), "GITHUB_REF": t("ref"), "GITHUB_REF_NAME": t("ref_name"),
            "GITHUB_REF_TYPE": t("ref_type"), "GITHUB_HEAD_REF": t("head_ref"), "GITHUB_BASE_REF": t("base_ref"), "GITHUB_SERVER_URL": t("server_url"),
            "GITHUB_API_URL": t("api_url"), "GITHUB_GRAPHQL_URL": t("graphql_url"), "GITHUB_RUN_ID": t("run_id"), "GITHUB_RUN_NUMBER": t("run_number"),
            "GITHUB_RUN_ATTEMPT": t("run_attempt"), "GITHUB_WORKFLOW": t("workflow"), "GITHUB_RETENTION_DAYS": t("retention_days"),
            "RUNNER_OS": WorkflowSettings.currentOS, "RUNNER_ARCH": WorkflowSettings.currentArch, "RUNNER_NAME": "shipgate",
            "RUNNER_ENVIRONMENT": "self-hosted",
        ]
    }
}
