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
            abstract: "Run a pipeline: jobs as real processes, in parallel along the DAG.",
            discussion: """
                Logs and the run record go to .shipgate/runs/<run-id>/ (see --state-dir).
                Exit codes: 0 success, 1 a job failed, 2 invalid pipeline or usage, 130 interrupted.
                """)

        enum OutputMode: String, ExpressibleByArgument, CaseIterable {
            case auto, tty, plain, json
        }

        @OptionGroup var pipeline: PipelineOptions

        @Option(name: .customLong("job"), help: "Run only these jobs and what they need (repeatable).")
        var jobs: [String] = []

        @Option(name: .customLong("jobs"), help: "Most jobs to run at once (default: number of CPUs).")
        var parallelism: Int?

        @Flag(help: "Cancel everything after the first job fails.")
        var failFast = false

        @Option(help: "auto (tty on a terminal, else plain), tty, plain, or json (one event per line).")
        var output: OutputMode = .auto

        @Option(help: "Write a JUnit XML report to this file.", completion: .file())
        var junit: String?

        @Option(help: "State directory (default: .shipgate at the repository root; env SHIPGATE_STATE_DIR).", completion: .directory)
        var stateDir: String?

        @Option(name: .customLong("secret"), help: "Treat this environment variable as a secret (repeatable).")
        var secretNames: [String] = []

        @Option(help: "A .env-style file of secret values (NAME=value). Never logged.", completion: .file())
        var secretsFile: String?

        @OptionGroup var cacheOptions: CacheOptions

        @Option(help: "Who runs this (default: SHIPGATE_ACTOR, GITHUB_ACTOR, git user.name, OS user).")
        var actor: String?

        @OptionGroup var ruleOptions: RuleOptions

        @Flag(help: "Run in a fresh checkout of HEAD's commit (no untracked files, no leftovers); removed afterwards.")
        var isolate = false

        @Option(help: ArgumentHelp("Seconds between SIGTERM and SIGKILL when a step times out or is cancelled.", visibility: .hidden))
        var killGrace: Double = 5

        func validate() throws {
            if let parallelism, parallelism < 1 { throw ValidationError("--jobs must be at least 1, got \(parallelism)") }
            if killGrace < 0 { throw ValidationError("--kill-grace must not be negative") }
        }

        func run() async throws {
            let errStyle = Terminal.stderrStyle
            let environment = ProcessInfo.processInfo.environment
            let file = try pipeline.resolvedFile()
            let home = Workspace(pipelineFile: file, stateDirectory: stateDir)
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
            let rules = try ruleOptions.inputs(
                needed: loaded.jobs.contains { $0.when != nil }, context: context, workspace: home, environment: environment)
            let plan = try pipeline.plan(loaded, jobs: jobs, git: context.interpolation, rules: rules, style: errStyle)

            let secrets: [String: String]
            do {
                let fileValues = try secretsFile.map(SecretSource.parseFile) ?? [:]
                secrets = try SecretSource.resolve(required: plan.secrets + secretNames, environment: environment, file: fileValues)
            } catch let missing as SecretSource.Missing {
                let names = missing.names.joined(separator: ", ")
                FileDescriptorSink.standardError.write(
                    "\(errStyle.red(errStyle.bold("error:"))) missing secret\(missing.names.count == 1 ? "" : "s") \(names): no job was started\n  \(errStyle.cyan("hint:")) export \(missing.names[0])=… or pass --secrets-file FILE with \(missing.names[0])=…\n"
                )
                throw ExitWith(code: Exit.invalid)
            } catch let problem as SecretSource.FileProblem {
                FileDescriptorSink.standardError.write("\(errStyle.red(errStyle.bold("error:"))) \(problem.description)\n")
                throw ExitWith(code: Exit.invalid)
            }

            var runID = RunDirectory.newRunID()
            var runDirectory = RunDirectory(stateDirectory: workspace.stateDirectory, runID: runID)
            do {
                while try !runDirectory.claim() {
                    runID = RunDirectory.newRunID()
                    runDirectory = RunDirectory(stateDirectory: workspace.stateDirectory, runID: runID)
                }
                try runDirectory.create()
            } catch {
                FileDescriptorSink.standardError.write(
                    "\(errStyle.red(errStyle.bold("error:"))) cannot create \(runDirectory.root): \(error.localizedDescription)\n  \(errStyle.cyan("hint:")) pass a writable --state-dir\n"
                )
                throw ExitWith(code: Exit.invalid)
            }

            let groups = ProcessGroups()
            let token = CancellationToken()
            let trap = SignalTrap(token: token) {
                groups.killEverything()
                isolated?.remove()
            }
            defer { withExtendedLifetime(trap) {} }

            let reporter = makeReporter(environment: environment)
            var options = RunOptions(
                runID: runID, workspace: workspace.root, runDirectory: runDirectory,
                parallelism: parallelism ?? ProcessInfo.processInfo.activeProcessorCount, failFast: failFast,
                killGrace: TimeSpan(milliseconds: Int64(killGrace * 1000)), baseEnvironment: environment, secrets: secrets)
            options.contextEnvironment = context.environment
            options.contextSummary = context.git == nil ? context.summary : "git: " + context.summary
            options.git = context.interpolation
            options.partial = !jobs.isEmpty
            let cache = cacheOptions.context(stateDirectory: workspace.stateDirectory, workspace: workspace.root, readOnly: false, reporter: reporter)
            let executor = Executor(
                plan: plan, options: options, runner: SubprocessRunner(groups: groups), observer: reporter, cancellation: token, cache: cache)
            let result = await executor.run()

            if let junit {
                let xml = JUnitReport.render(result) { job in
                    job.log.map { JobLog.tail(path: runDirectory.root + "/" + $0, lines: 50) } ?? []
                }
                do { try xml.write(toFile: junit, atomically: true, encoding: .utf8) } catch {
                    FileDescriptorSink.standardError.write("warning: cannot write JUnit report \(junit): \(error.localizedDescription)\n")
                }
            }
            switch result.status {
            case .success: return
            case .cancelled, .interrupted: throw ExitWith(code: Exit.interrupted)
            case .failed, .running: throw ExitWith(code: token.isInterrupt ? Exit.interrupted : Exit.jobFailed)
            }
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

        private func makeReporter(environment: [String: String]) -> any RunObserver {
            let stdout = FileDescriptorSink.standardOutput
            var mode = output
            if mode == .auto {
                let dumb = environment["TERM"] == "dumb" || environment["NO_COLOR"] != nil || environment["CI"] != nil
                mode = stdout.isTerminal && !dumb ? .tty : .plain
            }
            switch mode {
            case .tty: return TTYReporter(sink: stdout)
            case .json: return JSONReporter(sink: stdout)
            case .plain, .auto: return PlainReporter(sink: stdout, style: Terminal.stdoutStyle)
            }
        }
    }
}
