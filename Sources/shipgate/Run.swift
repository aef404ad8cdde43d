import ArgumentParser
import Foundation
import Logging
import ShipgateEngine
import ShipgateGit
import ShipgateLoading
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
            let file = try pipeline.resolvedFile()
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
                return try await runWorkflows(in: file)
            }
            try await runFile(file, selection: jobs)
        }

        /// Nothing of a workflow runs for this event (in a directory run: it is passed over).
        struct NotTriggered: Error {
            var reasons: [String]
        }

        /// `shipgate run .github/workflows/`: every workflow of the directory the event triggers,
        /// one run each, in name order. `--job` applies to the workflows that have such a job.
        /// Exits with the worst status (a failed run: 1); Ctrl-C stops at once.
        private func runWorkflows(in directory: String) async throws {
            let style = Terminal.stderrStyle
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }
                .sorted()
            var passed: [String] = []
            var ran = 0
            var worst: Int32 = 0
            for name in names {
                let path = (directory as NSString).appendingPathComponent(name)
                guard WorkflowLoader.isWorkflow(path: path) else {
                    passed.append("\(name): not a workflow")
                    continue
                }
                var selection = jobs
                if !jobs.isEmpty {
                    let declared = Set((WorkflowLoader.load(path: path).pipeline?.jobs ?? []).map(\.id))
                    selection = jobs.filter { declared.contains($0) || declared.contains(String($0.prefix { $0 != " " })) }
                    if selection.isEmpty {
                        passed.append("\(name): no job \(jobs.joined(separator: ", "))")
                        continue
                    }
                }
                FileDescriptorSink.standardError.write(style.bold("==> \(path)") + "\n")
                do {
                    try await runFile(path, selection: selection, inDirectory: true)
                    ran += 1
                } catch let skipped as NotTriggered {
                    passed.append("\(name): \(skipped.reasons.joined(separator: "; "))")
                } catch let exit as ExitWith {
                    ran += 1
                    if exit.code == Exit.interrupted { throw exit }
                    worst = worst == 0 || exit.code == Exit.jobFailed ? exit.code : worst
                }
            }
            for note in passed { FileDescriptorSink.standardError.write(style.dim("passed over: \(note)") + "\n") }
            guard ran > 0 else {
                FileDescriptorSink.standardError.write(
                    "\(style.red(style.bold("error:"))) no workflow in \(directory) runs for `\(workflowOptions.event)`\n  \(style.cyan("hint:")) pick the event with --event, or run anyway with --ignore-triggers\n"
                )
                throw ExitWith(code: Exit.invalid)
            }
            if worst != 0 { throw ExitWith(code: worst) }
        }

        private func runFile(_ file: String, selection jobs: [String], inDirectory: Bool = false) async throws {
            let errStyle = Terminal.stderrStyle
            let environment = ProcessInfo.processInfo.environment
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
            let loaded = try pipeline.load(style: errStyle, path: isolated.map { $0.translate(file) } ?? file)
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
                if inDirectory { throw NotTriggered(reasons: reasons.sorted()) }
                FileDescriptorSink.standardError.write(
                    "\(errStyle.red(errStyle.bold("error:"))) no job of \(file) runs here: \(reasons.sorted().joined(separator: "; "))\n"
                        + "  \(errStyle.cyan("hint:")) `shipgate plan \(file)` shows each job and why\n")
                throw ExitWith(code: Exit.invalid)
            }

            try await RunSession(
                execution: execution, pipeline: loaded, plan: plan, pipelineFile: file, home: home, workspace: workspace, context: context,
                selection: jobs, resumeRun: nil, withoutNeeds: noDeps, onForce: { isolated?.remove() }, workflow: settings,
                actionRepositories: settings == nil ? nil : workflowOptions.actionRepositories()
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
