import ArgumentParser
import Foundation
import ShipgateGit
import ShipgateJobCache
import ShipgateLoading
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess
import ShipgateRelease
import ShipgateReport
import ShipgateState

extension Shipgate {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Show what `run` would do, without running anything.",
            discussion: """
                Jobs in execution order (waves of what can run in parallel), with their commands after \
                interpolation, which the cache would restore, and why anything runs or is skipped.
                """)

        @OptionGroup var pipeline: PipelineOptions

        @Option(name: .customLong("job"), help: "Plan only these jobs and what they need (repeatable).")
        var jobs: [String] = []

        @Flag(help: "Print the plan as JSON (documented in docs/pipeline-format.md).")
        var json = false

        @Option(help: "State directory (default: .shipgate at the repository root; env SHIPGATE_STATE_DIR).", completion: .directory)
        var stateDir: String?

        @OptionGroup var cacheOptions: CacheOptions

        @OptionGroup var ruleOptions: RuleOptions

        @OptionGroup var policy: PolicyOptions

        @Option(
            name: .customLong("state"), help: "State store: postgres://USER@HOST:PORT/DB or sqlite:PATH (default: .shipgate/state.db; env SHIPGATE_STATE_URL).")
        var stateURL: String?

        @Option(help: "Show the gates as they would decide with --break-glass REASON.")
        var breakGlass: String?

        @Option(help: "Who runs this, for `${{ git.actor }}` (default: SHIPGATE_ACTOR, GITHUB_ACTOR, git user.name, OS user).")
        var actor: String?

        @OptionGroup(title: "GitHub workflows") var workflowOptions: WorkflowOptions

        func run() async throws {
            let file = try pipeline.resolvedFile()
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue else {
                return try await planFile(file)
            }
            // A directory (`.github/workflows/`): the plan of each workflow in it, in name order.
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: file)) ?? []).filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted()
            for name in names {
                let path = (file as NSString).appendingPathComponent(name)
                guard WorkflowLoader.isWorkflow(path: path) else { continue }
                if !json { print(Terminal.stdoutStyle.bold("==> \(path)")) }
                try await planFile(path)
                if !json { print() }
            }
        }

        private func planFile(_ file: String) async throws {
            let loaded = try pipeline.load(style: Terminal.stderrStyle, path: file)
            let environment = ProcessInfo.processInfo.environment
            let workspace = Workspace(pipelineFile: loaded.file, stateDirectory: stateDir)
            let context = RunContext.resolve(workspace: workspace.root, environment: environment, actor: actor)
            let isWorkflow = loaded.origin == .githubWorkflow
            let rules = try ruleOptions.inputs(
                needed: isWorkflow || loaded.jobs.contains { $0.when != nil }, context: context, workspace: workspace, environment: environment)
            let settings =
                isWorkflow ? try workflowOptions.settings(pipeline: loaded, context: context, workspace: workspace.root, rules: rules) : WorkflowSettings()
            var plan = try pipeline.plan(loaded, jobs: jobs, git: context.interpolation, rules: rules, workflow: settings, style: Terminal.stderrStyle)
            let trusted = TrustedPolicy.load(
                pipeline: loaded, pipelinePath: loaded.file, trustRef: policy.resolvedTrustRef, keyringPath: policy.keyringPath)
            // `cache-key-extra` commands run like steps: without environment secrets or credentials.
            let withheld = SecretPolicy.environmentSecretNames(pipeline: loaded, policy: trusted)
            LaunchEnvironment.withhold(withheld.union(LaunchEnvironment.credentialNames))
            let commandEnvironment = SecretPolicy.stepEnvironment(LaunchEnvironment.values, withholding: withheld)
            if plan.jobs.contains(where: { $0.cache != nil }) {
                // Read-only: a plan never writes the state directory, so a missing one is simply empty.
                if FileManager.default.fileExists(atPath: workspace.stateDirectory + "/cache"),
                    let context = cacheOptions.context(stateDirectory: workspace.stateDirectory, workspace: workspace.root, readOnly: true, reporter: nil)
                {
                    plan = await CacheAdvisor(context: context, runner: HostProcessRunner(), environment: commandEnvironment).annotate(plan)
                } else {
                    for i in plan.jobs.indices where plan.jobs[i].status == .run {
                        plan.jobs[i].reason = CacheAdvisor.add(
                            plan.jobs[i].reason,
                            plan.jobs[i].cache == nil
                                ? "runs: not cacheable (no `inputs`)" : (cacheOptions.noCache ? "runs: --no-cache" : "runs: no entry (the cache is empty)"))
                    }
                }
            }
            if plan.jobs.contains(where: { $0.deploy != nil }) {
                // Read-only: the state store is opened only when it exists.
                let url = StateLocation.url(stateURL)
                let store =
                    await StateLocation.exists(url: url, stateDirectory: workspace.stateDirectory)
                    ? try? StateLocation.open(url: url, stateDirectory: workspace.stateDirectory) : nil
                plan = await GatePreviewer.annotate(
                    plan, policy: trusted, context: context, store: store, breakGlass: breakGlass, now: GateClock.resolve(style: Terminal.stderrStyle)())
            }
            // Secret values present in the environment are masked, should a script contain one literally.
            let masker = SecretMasker(values: (plan.secrets + Array(withheld)).compactMap { LaunchEnvironment.values[$0] })
            var actions: [PlanPrinter.FetchedActionNote] = []
            if isWorkflow {
                // Read-only: the action cache is looked at, never fetched into.
                let repositories = workflowOptions.actionRepositories()
                var seen = Set<String>()
                var queue: [String] = []
                for job in plan.jobs where job.status == .run { queue += FetchedActions.uses(in: job.steps.compactMap(\.github)) }
                let source = GitActionSource(root: workspace.root)
                while !queue.isEmpty {
                    let uses = queue.removeFirst()
                    guard seen.insert(uses).inserted, actions.count < 500 else { continue }
                    let parsed = RemoteAction.parse(uses)
                    let commit = parsed.flatMap { repositories.cachedCommit(repository: $0.repository, ref: $0.ref) }
                    actions.append(
                        PlanPrinter.FetchedActionNote(uses: uses, pinned: FetchedActions.isPinned(uses), cachedCommit: commit, source: repositories.baseURL))
                    // A cached composite action's own actions are known without fetching: read from the mirror.
                    if let parsed, let commit {
                        let prefix = parsed.subpath.isEmpty ? "" : parsed.subpath + "/"
                        let read = RemoteActionReader.read(
                            file: { repositories.cachedFile(repository: parsed.repository, commit: commit, path: prefix + $0) }, uses: uses, workspace: source)
                        if let steps = read.action?.steps { queue += FetchedActions.uses(in: steps) }
                    }
                }
            }
            print(
                json
                    ? PlanPrinter.json(plan, masker: masker, actions: actions)
                    : PlanPrinter.text(plan, style: Terminal.stdoutStyle, masker: masker, actions: actions), terminator: "")
        }
    }
}
