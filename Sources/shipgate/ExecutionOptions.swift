import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateReport

/// Flags of `run` and `resume` about how jobs execute and report.
struct ExecutionOptions: ParsableArguments {
    enum OutputMode: String, ExpressibleByArgument, CaseIterable {
        case auto, tty, plain, json, github
        case errorsOnly = "errors-only"
    }

    @Option(name: .customLong("jobs"), help: "Most jobs to run at once (default: number of CPUs).")
    var parallelism: Int?

    @Flag(help: "Cancel everything after the first job fails.")
    var failFast = false

    @Option(
        help:
            "auto (github in GitHub Actions, tty on a terminal, else plain), tty, plain, json (one event per line), github, or errors-only (failing jobs' logs and the summary)."
    )
    var output: OutputMode = .auto

    @Option(help: "Write a JUnit XML report to this file.", completion: .file())
    var junit: String?

    @Option(help: "State directory (default: .shipgate at the repository root; env SHIPGATE_STATE_DIR).", completion: .directory)
    var stateDir: String?

    @Option(name: .customLong("state"), help: "State store: postgres://USER@HOST:PORT/DB or sqlite:PATH (default: .shipgate/state.db; env SHIPGATE_STATE_URL).")
    var stateURL: String?

    @Option(name: .customLong("secret"), help: "Treat this environment variable as a secret (repeatable).")
    var secretNames: [String] = []

    @Option(help: "A .env-style file of secret values (NAME=value). Never logged.", completion: .file())
    var secretsFile: String?

    @OptionGroup var cacheOptions: CacheOptions

    @Option(help: "Import needed jobs' artifacts from DIR/<job>/ (downloaded from other runners).", completion: .directory)
    var importArtifacts: String?

    @Option(help: "After the run, copy each job's artifacts to DIR/<job>/ (for upload to other runners).", completion: .directory)
    var exportArtifacts: String?

    @OptionGroup var gate: GateOptions

    @Option(help: ArgumentHelp("Seconds between SIGTERM and SIGKILL when a step times out or is cancelled.", visibility: .hidden))
    var killGrace: Double = 5

    func validate() throws {
        if let parallelism, parallelism < 1 { throw ValidationError("--jobs must be at least 1, got \(parallelism)") }
        if killGrace < 0 { throw ValidationError("--kill-grace must not be negative") }
    }

    /// The output mode `auto` stands for here.
    func resolvedMode(environment: [String: String]) -> OutputMode {
        guard output == .auto else { return output }
        if environment["GITHUB_ACTIONS"] == "true" { return .github }
        let dumb = environment["TERM"] == "dumb" || environment["NO_COLOR"] != nil || environment["CI"] != nil
        return FileDescriptorSink.standardOutput.isTerminal && !dumb ? .tty : .plain
    }

    func makeReporter(environment: [String: String], extraSummary: @escaping @Sendable (RunResult) -> String = { _ in "" }) -> any RunObserver {
        let stdout = FileDescriptorSink.standardOutput
        switch resolvedMode(environment: environment) {
        case .tty: return TTYReporter(sink: stdout)
        case .json: return JSONReporter(sink: stdout)
        case .github:
            func path(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
            return GitHubReporter(
                sink: stdout, summaryPath: path("GITHUB_STEP_SUMMARY"), outputPath: path("GITHUB_OUTPUT"), extraSummary: extraSummary)
        case .errorsOnly: return ErrorsOnlyReporter(sink: stdout, style: Terminal.stdoutStyle)
        case .plain, .auto: return PlainReporter(sink: stdout, style: Terminal.stdoutStyle)
        }
    }
}
