/// The parts of a job that only a GitHub Actions workflow has, set when the pipeline was read
/// from a workflow file (`Pipeline.origin == .githubWorkflow`).
///
/// Contract: every text here is GitHub expression syntax as written in the file (`${{ }}`
/// templates, and bare `if:` conditions), already checked by the loader; the engine evaluates
/// it when the job or step starts, with the contexts GitHub gives at that point. Nothing here
/// is raw YAML.
public struct GitHubJob: Hashable, Sendable, Codable {
    /// `if:` as written; empty: none (`success()`).
    public var condition: String = ""
    /// `name:` as written (may use `matrix`).
    public var name: String?
    /// `runs-on` labels as written (each may be an expression using `matrix`).
    public var runsOn: [String] = []
    /// `outputs:`: name → template, evaluated when the job ends.
    public var outputs: [NamedText] = []
    /// `env:` of the workflow, then of the job, as written (templates).
    public var workflowEnv: [NamedText] = []
    public var env: [NamedText] = []
    /// `continue-on-error` and `timeout-minutes` as written (`true`, `${{ matrix.experimental }}`).
    public var continueOnError: String?
    public var timeoutMinutes: String?
    /// `defaults.run` of the job, else of the workflow.
    public var defaultShell: String?
    public var defaultWorkingDirectory: String?
    /// `strategy.fail-fast` (default true) and `strategy.max-parallel`.
    public var failFast = true
    public var maxParallel: Int?
    /// Number of variants of the job's matrix (`strategy.job-total`); 1 without a matrix.
    public var variantCount = 1
    /// `environment:` name as written, if any (shown by `plan`; no gate applies to workflows).
    public var environment: String?
    /// Why the job cannot run on this host, found by the loader (`container`, `services`, an
    /// action shipgate does not run yet, a reusable workflow call); nil: it can, unless `runs-on`
    /// asks for another system (decided by the planner, per variant).
    public var refusal: String?
    /// `services:`, started as local processes for each run of the job.
    public var services: [WorkflowService] = []
    /// Set for a job of a called (reusable) workflow: how the calling job called it.
    public var call: WorkflowCall?
    /// Set for the job that stands for a reusable workflow call (its id is the calling job's):
    /// the jobs of the called workflow (`caller/job` ids) whose results and outputs make its
    /// own; `outputs` are then `on.workflow_call.outputs` (`${{ jobs.JOB.outputs.NAME }}`).
    public var collects: [String]?

    public init() {}
}

/// How a job of a reusable workflow was called (`jobs.<caller>.uses: ./.github/workflows/x.yml`).
///
/// Contract (docs.github.com, "Reusing workflows"): every job of the called workflow waits
/// for the caller's `needs` and runs only when the caller's `if:` holds over them; its `inputs`
/// are the caller's `with:` (evaluated in the caller's contexts, typed by the called workflow's
/// `on.workflow_call.inputs`, defaults filled in); its `secrets` are the caller's `secrets:`
/// mapping, or all of the caller's with `secrets: inherit`. The caller's `env` does not pass on.
public struct WorkflowCall: Hashable, Sendable, Codable {
    public var caller: String
    public var uses: String
    public var with: [NamedText] = []
    public var secrets: [NamedText] = []
    public var inheritSecrets = false
    public var inputs: [WorkflowInput] = []
    public var condition: String = ""
    /// The caller's `needs` (declared job ids).
    public var needs: [String] = []

    public init(caller: String, uses: String) {
        self.caller = caller
        self.uses = uses
    }
}

/// A step of a workflow job: what GitHub runs, as written.
public struct GitHubStep: Hashable, Sendable, Codable {
    public var id: String?
    /// `name:` as written (steps of composite actions; a job's steps carry it in `Step.name`).
    public var name: String?
    /// `if:` as written; empty: none.
    public var condition: String = ""
    /// `run:` script (a template), or nil for a `uses:` step.
    public var run: String?
    /// `uses:` as written (`actions/checkout@v4`), for an action step.
    public var uses: String?
    /// `with:` inputs as written (templates), in order.
    public var with: [NamedText] = []
    public var env: [NamedText] = []
    public var shell: String?
    public var workingDirectory: String?
    public var continueOnError: String?
    public var timeoutMinutes: String?
    /// For `uses: ./path` or `uses: $/path`: the local action (composite or JavaScript), read
    /// by the loader. Actions of other repositories are read when a run fetches them
    /// (`WorkflowRuntime.actions`).
    public var composite: CompositeAction?

    public init() {}
}

/// An action read from its `action.yml`: a composite one (`runs.using: composite`, its
/// `steps`), or a JavaScript one (`javascript`, no steps); of the workflow's own repository
/// (read by the loader) or of another (`remote`, read when the run fetched it).
public struct CompositeAction: Hashable, Sendable, Codable {
    public struct Input: Hashable, Sendable, Codable {
        public var name: String
        /// `default:` as written (a template), nil: none.
        public var defaultText: String?
        public var required: Bool

        public init(name: String, defaultText: String?, required: Bool) {
            self.name = name
            self.defaultText = defaultText
            self.required = required
        }
    }

    /// `uses:` as written (`./.github/actions/setup`, `$/.github/actions/setup`).
    public var path: String
    /// The action's directory relative to the repository root (`.github/actions/setup`).
    public var directory: String
    /// `$/`: the action as committed at the running commit, not the working tree's copy.
    public var fromCommit: Bool
    public var name: String
    public var inputs: [Input]
    /// `outputs.<name>.value` templates.
    public var outputs: [NamedText]
    public var steps: [GitHubStep]
    /// `runs.using: node20|node24|…`: the scripts to run instead of steps.
    public var javascript: JavaScriptAction?
    /// Set for an action of another repository: where it came from and where its files are.
    public var remote: RemoteAction?

    public init(path: String, directory: String, fromCommit: Bool, name: String, inputs: [Input], outputs: [NamedText], steps: [GitHubStep]) {
        self.path = path
        self.directory = directory
        self.fromCommit = fromCommit
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.steps = steps
    }

    /// Where its files are for this run: the workspace's copy, or (`$/`) the committed copy the
    /// run extracted (`selfActions`: directory → extracted path).
    public func resolvedDirectory(workspace: String, selfActions: [String: String]) -> String {
        if let remote { return remote.directory }
        if fromCommit, let extracted = selfActions[directory] { return extracted }
        return directory.isEmpty || directory == "." ? workspace : workspace + "/" + directory
    }
}

/// `runs:` of a JavaScript action (docs.github.com, "Metadata syntax", `runs` for JavaScript
/// actions): `main`, and the optional `pre` / `post` with their conditions (`pre-if` and
/// `post-if`, both `always()` when absent), paths relative to the action's directory.
public struct JavaScriptAction: Hashable, Sendable, Codable {
    /// `node20`, `node24`, … (older ones, `node12`/`node16`, run with Node 20 as GitHub does).
    public var using: String
    public var main: String
    public var pre: String?
    public var preIf: String?
    public var post: String?
    public var postIf: String?

    public init(using: String, main: String, pre: String? = nil, preIf: String? = nil, post: String? = nil, postIf: String? = nil) {
        self.using = using
        self.main = main
        self.pre = pre
        self.preIf = preIf
        self.post = post
        self.postIf = postIf
    }

    /// The Node.js major version the action asks for (20 for `node20`), at least 20.
    public var nodeMajor: Int { max(20, Int(using.dropFirst(4)) ?? 20) }
}

/// An action of another repository as a run resolved it: `uses: owner/repo/path@ref` at a
/// commit, its files extracted for the run.
public struct RemoteAction: Hashable, Sendable, Codable {
    /// `owner/repo`.
    public var repository: String
    /// The action's directory inside the repository (`` for the root).
    public var subpath: String
    public var ref: String
    public var commit: String
    /// The extracted action directory (the repository's tree + `subpath`).
    public var directory: String

    public init(repository: String, subpath: String, ref: String, commit: String, directory: String) {
        self.repository = repository
        self.subpath = subpath
        self.ref = ref
        self.commit = commit
        self.directory = directory
    }

    /// The extracted repository tree (`directory` without `subpath`).
    public var treeRoot: String {
        guard !subpath.isEmpty, directory.hasSuffix("/" + subpath) else { return directory }
        return String(directory.dropLast(subpath.count + 1))
    }

    /// `uses:` split into repository, subpath and ref, or nil when it does not have that form.
    public static func parse(_ uses: String) -> (repository: String, subpath: String, ref: String)? {
        guard let at = uses.lastIndex(of: "@") else { return nil }
        let ref = String(uses[uses.index(after: at)...])
        let parts = uses[..<at].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, !ref.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return nil }
        let allowed = { (s: String) in s.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != 92 } }
        guard parts.allSatisfy(allowed), allowed(ref) else { return nil }
        return (parts[0] + "/" + parts[1], parts.dropFirst(2).joined(separator: "/"), ref)
    }
}

/// The actions of other repositories that steps use (the steps of local composite actions
/// included): what a run fetches and executes, known before it runs. Native actions are not
/// fetched and are left out.
public enum FetchedActions {
    public static func uses(in steps: [GitHubStep]) -> [String] {
        var out: [String] = []
        func visit(_ step: GitHubStep) {
            if let composite = step.composite { composite.steps.forEach(visit) }
            guard let uses = step.uses, case .repository = NativeAction.kind(of: uses), !out.contains(uses) else { return }
            out.append(uses)
        }
        steps.forEach(visit)
        return out
    }

    /// `uses` pinned to a full commit SHA (the only ref that cannot move).
    public static func isPinned(_ uses: String) -> Bool { RemoteAction.parse(uses).map { isCommitSHA($0.ref) } ?? false }

    /// 40 hex digits: a full commit id.
    public static func isCommitSHA(_ ref: String) -> Bool {
        ref.utf8.count == 40 && ref.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) || (65...70).contains($0) }
    }
}

/// GitHub's names for unnamed steps.
public enum WorkflowStepNames {
    /// `Run <first line>` or `Run <action>`.
    public static func defaultName(_ step: GitHubStep) -> String {
        if let uses = step.uses { return "Run \(uses)" }
        let first = (step.run ?? "").split(separator: "\n").first.map(String.init) ?? ""
        return "Run " + (first.count > 60 ? String(first.prefix(57)) + "..." : first)
    }
}

/// A named template as written in a workflow (`env`, `with`, `outputs` entries).
public struct NamedText: Hashable, Sendable, Codable {
    public var name: String
    public var text: String
    public var location: SourceLocation

    public init(name: String, text: String, location: SourceLocation) {
        self.name = name
        self.text = text
        self.location = location
    }
}

/// Where a pipeline came from: shipgate's own format, or a GitHub Actions workflow.
public enum PipelineOrigin: String, Hashable, Sendable, Codable {
    case shipgate
    case githubWorkflow = "github-workflow"
}

/// One event of a workflow's `on:` and its filters (`branches`, `tags`, `paths`, with their
/// `-ignore` forms), as written; `types` and inputs are kept for `workflow_dispatch`.
public struct WorkflowTrigger: Hashable, Sendable, Codable {
    public var event: String
    public var branches: [String]?
    public var branchesIgnore: [String]?
    public var tags: [String]?
    public var tagsIgnore: [String]?
    public var paths: [String]?
    public var pathsIgnore: [String]?
    /// `workflow_dispatch` / `workflow_call` inputs: name → default (as text), nil: no default.
    public var inputs: [WorkflowInput] = []
    /// `workflow_call` secrets (type `secret`; `required` as declared).
    public var secrets: [WorkflowInput] = []
    public var location: SourceLocation

    public init(event: String, location: SourceLocation) {
        self.event = event
        self.location = location
    }
}

/// An input of `workflow_dispatch` or `workflow_call`.
public struct WorkflowInput: Hashable, Sendable, Codable {
    public var name: String
    public var type: String
    public var required: Bool
    /// The default as JSON text (a string, number or boolean), nil: none.
    public var defaultJSON: String?

    public init(name: String, type: String, required: Bool, defaultJSON: String?) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultJSON = defaultJSON
    }
}

/// The actions shipgate runs itself instead of their code, recognized by name at any version
/// (`actions/checkout@v4`, `actions/checkout@<sha>`).
public enum NativeAction: String, Hashable, Sendable, Codable, CaseIterable {
    case checkout = "actions/checkout"
    case setupPython = "actions/setup-python"
    case setupNode = "actions/setup-node"
    case setupGo = "actions/setup-go"
    case cache = "actions/cache"
    case cacheRestore = "actions/cache/restore"
    case cacheSave = "actions/cache/save"
    case uploadArtifact = "actions/upload-artifact"
    case downloadArtifact = "actions/download-artifact"
    /// shipgate's own action (`OWNER/shipgate@REF`, any owner: a fork or a mirror of it): run
    /// by the shipgate running the workflow, so an exported workflow runs here as it is.
    case shipgate = "shipgate"

    /// The native action a `uses:` names, or nil (another action, a local path, a Docker image).
    public init?(uses: String) {
        guard let at = uses.lastIndex(of: "@"), uses.index(after: at) != uses.endIndex else { return nil }
        let name = uses[..<at].lowercased()
        if let action = NativeAction(rawValue: name), action != .shipgate {
            self = action
            return
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1] == "shipgate", !parts[0].isEmpty, !name.hasPrefix("."), !name.hasPrefix("$") else { return nil }
        self = .shipgate
    }

    /// What `uses:` names when it is not a native action, for messages and refusals.
    public enum Kind: Equatable, Sendable {
        case native(NativeAction)
        case local(String)
        case docker(String)
        case repository(String)
        case malformed
    }

    public static func kind(of uses: String) -> Kind {
        if let native = NativeAction(uses: uses) { return .native(native) }
        if uses.hasPrefix("./") || uses.hasPrefix("../") || uses.hasPrefix("$/") { return .local(uses) }
        if uses.hasPrefix("docker://") { return .docker(uses) }
        guard let at = uses.lastIndex(of: "@"), at != uses.startIndex, uses.index(after: at) != uses.endIndex, uses[..<at].contains("/") else {
            return .malformed
        }
        return .repository(uses)
    }
}

extension NativeAction {
    /// What shipgate does instead of the action, for `plan`.
    public var summary: String {
        switch self {
        case .checkout: "native: the working tree as it is; --isolate checks HEAD out cleanly"
        case .setupPython: "native: a Python installed here (tool cache, uv, pyenv, system) first on PATH"
        case .setupNode: "native: a Node.js installed here (tool cache, nvm, system) first on PATH"
        case .setupGo: "native: a Go installed here (tool cache, ~/sdk, system) first on PATH"
        case .cache: "native: shipgate's dependency cache, restored now, saved after the job"
        case .cacheRestore: "native: restored from shipgate's dependency cache"
        case .cacheSave: "native: saved to shipgate's dependency cache"
        case .uploadArtifact: "native: into this run's artifact store (SHA-256 manifest)"
        case .downloadArtifact: "native: from this run's artifact store, digests verified"
        case .shipgate: "native: the shipgate running this workflow runs the pipeline (install-only: gives its own binary)"
        }
    }
}
