import ArgumentParser
import Foundation
import Logging
import ShipgateEngine
import ShipgateGit
import ShipgateModel
import ShipgatePlanning
import ShipgateReport

extension Shipgate {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run a pipeline: jobs as real processes, in parallel along the DAG.",
            discussion: """
                Logs and the run record go to .shipgate/runs/<run-id>/ (see --state-dir).
                Exit codes: 0 success, 1 a job failed, 2 invalid pipeline or usage, 3 a gate blocked a deploy, 130 interrupted.
                """)

        @OptionGroup var pipeline: PipelineOptions

        @Option(name: .customLong("job"), help: "Run only these jobs and what they need (repeatable).")
        var jobs: [String] = []

        @Flag(help: "Run only the --job jobs, not what they need: that ran elsewhere (exported GitHub workflows; see SHIPGATE_NEEDS).")
        var noDeps = false

        @OptionGroup var execution: ExecutionOptions

        @Option(help: "Who runs this (default: SHIPGATE_ACTOR, GITHUB_ACTOR, git user.name, OS user).")
        var actor: String?

        @OptionGroup var ruleOptions: RuleOptions

        @Flag(help: "Run in a fresh checkout of HEAD's commit (no untracked files, no leftovers); removed afterwards.")
        var isolate = false

        @OptionGroup(title: "GitHub workflows") var workflowOptions: WorkflowOptions

        func run() async throws {
            let errStyle = Terminal.stderrStyle
            let environment = ProcessInfo.processInfo.environment
            let file = try pipeline.resolvedFile()
            let home = Workspace(pipelineFile: file, stateDirectory: execution.stateDir)
            // The run context describes the repository as it is; an isolated run uses its commit.
            var context = RunContext.resolve(workspace: home.root, environment: environment, actor: actor)
            let isolated = try isolate ? makeIsolatedWorktree(file: file, style: errStyle) : nil
            defer { isolated?.remove() }
            if isolated != nil, var git = context.git {
                git.dirty = false
                if git.version.hasSuffix("-dirty") { git.version.removeLast("-dirty".count) }
                context.git = git
            }
            let loaded = try pipeline.load(style: errStyle, path: isolated.map { $0.translate(file) })
            let workspace = isolated.map { Workspace(root: $0.root, stateDirectory: home.stateDirectory) } ?? home
            // Rules look at the repository itself (an isolated checkout has no history).
            let isWorkflow = loaded.origin == .githubWorkflow
            let rules = try ruleOptions.inputs(
                needed: isWorkflow || loaded.jobs.contains { $0.when != nil }, context: context, workspace: home, environment: environment)
            if noDeps && jobs.isEmpty { throw ValidationError("--no-deps needs --job: which jobs to run without what they need") }
            let settings = isWorkflow ? try workflowOptions.settings(pipeline: loaded, context: context, workspace: workspace.root, rules: rules) : nil
            let plan = try pipeline.plan(
                loaded, jobs: jobs, git: context.interpolation, rules: rules, withoutNeeds: noDeps, workflow: settings ?? WorkflowSettings(), style: errStyle)
            if isWorkflow, !plan.jobs.contains(where: { $0.status == .run }) {
                // Nothing would run: say why, once, instead of an empty run.
                let reasons = Set(plan.jobs.compactMap(\.reason))
                FileDescriptorSink.standardError.write(
                    "\(errStyle.red(errStyle.bold("error:"))) no job of \(file) runs here: \(reasons.sorted().joined(separator: "; "))\n"
                        + "  \(errStyle.cyan("hint:")) `shipgate plan \(file)` shows each job and why\n")
                throw ExitWith(code: Exit.invalid)
            }

            try await RunSession(
                execution: execution, pipeline: loaded, plan: plan, pipelineFile: file, home: home, workspace: workspace, context: context,
                selection: jobs, resumeRun: nil, withoutNeeds: noDeps, onForce: { isolated?.remove() }, workflow: settings
            ).execute()
        }

        /// The clean checkout for `--isolate`; a pipeline file that is not committed is an error.
        private func makeIsolatedWorktree(file: String, style: Style) throws -> IsolatedWorktree {
            let tree: IsolatedWorktree
            do { tree = try IsolatedWorktree.create(forRepositoryContaining: file) } catch {
                FileDescriptorSink.standardError.write("\(style.red(style.bold("error:"))) \(error)\n")
                throw ExitWith(code: Exit.invalid)
            }
            guard FileManager.default.fileExists(atPath: tree.translate(file)) else {
                tree.remove()
                FileDescriptorSink.standardError.write(
                    "\(style.red(style.bold("error:"))) \(file) is not in commit \(tree.commit.prefix(7)): --isolate runs the committed pipeline\n  \(style.cyan("hint:")) commit it first, or run without --isolate\n"
                )
                throw ExitWith(code: Exit.invalid)
            }
            FileDescriptorSink.standardError.write(style.dim("isolated checkout of \(tree.commit.prefix(7)) in \(tree.root)") + "\n")
            return tree
        }
    }
}
