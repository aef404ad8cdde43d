import Foundation

/// The files behind `$GITHUB_OUTPUT`, `$GITHUB_ENV`, `$GITHUB_PATH`, `$GITHUB_STEP_SUMMARY` and
/// `$GITHUB_STATE` for one step: created empty before it starts (as the runner does), read
/// with the same safety rules as `$SHIPGATE_ENV` (renamed first, no links, at most 1 MiB).
struct WorkflowFileCommands {
    let directory: String
    let id: String

    var output: String { "\(directory)/set_output_\(id)" }
    var env: String { "\(directory)/set_env_\(id)" }
    var path: String { "\(directory)/add_path_\(id)" }
    var summary: String { "\(directory)/step_summary_\(id)" }
    var state: String { "\(directory)/save_state_\(id)" }

    func create() {
        for p in [output, env, path, summary, state] { FileManager.default.createFile(atPath: p, contents: nil) }
    }

    func remove() {
        for p in [output, env, path, summary, state] { unlink(p) }
    }

    func apply(_ environment: inout [String: String]) {
        environment["GITHUB_OUTPUT"] = output
        environment["GITHUB_ENV"] = env
        environment["GITHUB_PATH"] = path
        environment["GITHUB_STEP_SUMMARY"] = summary
        environment["GITHUB_STATE"] = state
    }

    /// Variables a step may not set through `$GITHUB_ENV`: `NODE_OPTIONS` (the runner refuses
    /// it), the default variables (`GITHUB_*`, `RUNNER_*`: "you can't overwrite" them, GitHub
    /// says), `CI`, and shipgate's own.
    static func reserved(_ name: String) -> Bool {
        // Names are case-sensitive on Linux: `github_lower` is the step's own.
        name == "NODE_OPTIONS" || name == "CI" || name.hasPrefix("GITHUB_") || name.hasPrefix("RUNNER_") || name.hasPrefix("SHIPGATE_")
    }

    struct Collected {
        var outputs: [String: String] = [:]
        var env: [String: String] = [:]
        var path: [String] = []
        var summary = ""
        /// `$GITHUB_STATE`: values for the same action's later stages (`STATE_<name>`).
        var state: [String: String] = [:]
        var warnings: [String] = []
    }

    func collect() -> Collected {
        var c = Collected()
        let (outText, outWarning) = StepFiles.take(output)
        if let outWarning { c.warnings.append("$GITHUB_OUTPUT \(outWarning)") }
        let (outputs, outProblems) = OutputsFile.parse(outText)
        c.outputs = outputs
        c.warnings += outProblems.map { "$GITHUB_OUTPUT \($0)" }
        let (envText, envWarning) = StepFiles.take(env)
        if let envWarning { c.warnings.append("$GITHUB_ENV \(envWarning)") }
        let (values, envProblems) = OutputsFile.parse(envText, noun: "variable", isKey: StepFiles.isName)
        c.env = values
        c.warnings += envProblems.map { "$GITHUB_ENV \($0)" }
        for name in values.keys.sorted() where Self.reserved(name) { c.warnings.append("$GITHUB_ENV: `\(name)` cannot be set this way; ignored") }
        let (pathText, pathWarning) = StepFiles.take(path)
        if let pathWarning { c.warnings.append("$GITHUB_PATH \(pathWarning)") }
        c.path = pathText.split(whereSeparator: \.isNewline).map { String($0.trimmingSpaces) }.filter { !$0.isEmpty }
        let (summaryText, summaryWarning) = StepFiles.take(summary)
        if let summaryWarning { c.warnings.append("$GITHUB_STEP_SUMMARY \(summaryWarning)") }
        c.summary = summaryText
        let (stateText, stateWarning) = StepFiles.take(state)
        if let stateWarning { c.warnings.append("$GITHUB_STATE \(stateWarning)") }
        let (saved, stateProblems) = OutputsFile.parse(stateText)
        c.state = saved
        c.warnings += stateProblems.map { "$GITHUB_STATE \($0)" }
        return c
    }
}
