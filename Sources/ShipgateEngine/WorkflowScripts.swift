import Foundation
import ShipgateCache
import ShipgateExpressions
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

/// `run` steps of workflow jobs: the runner's shell templates, the script written to a file,
/// the process, its workflow commands and file commands (see `WorkflowSteps.swift`, point 3-4).
extension JobExecutor {

    /// The argv of a `run` step's shell, and the script file's extension.
    static func shellCommand(_ shell: String?, hasBash: Bool) -> (argv: [String], ext: String)? {
        switch shell {
        case nil: return hasBash ? (["bash", "-e", "{0}"], "sh") : (["sh", "-e", "{0}"], "sh")
        case "bash": return (["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"], "sh")
        case "sh": return (["sh", "-e", "{0}"], "sh")
        case "python": return (["python", "{0}"], "py")
        case "pwsh": return (["pwsh", "-command", ". '{0}'"], "ps1")
        case "cmd", "powershell": return nil
        case let custom?:
            let parts = custom.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard parts.contains(where: { $0.contains("{0}") }) else { return nil }
            let ext = parts.first.map { ($0 as NSString).lastPathComponent }.map { $0.hasPrefix("python") ? "py" : $0 == "pwsh" ? "ps1" : "sh" } ?? "sh"
            return (parts, ext)
        }
    }

    func runScript(
        _ script: String, step: GitHubStep, name: String, context: WorkflowJobContext, frame: StepFrame, actionID: String, stepEnv: [(String, String)],
        directory: String, timeout stepTimeout: TimeSpan?, state: inout WorkflowJobState, pgids: inout [Int32]
    ) async -> (failure: String?, outputs: [String: String], exitCode: Int32?) {
        let shellName = step.shell ?? (frame.depth == 0 ? context.github.defaultShell : nil)
        let hasBash = WorkflowHashFiles.onPath("bash", path: options.baseEnvironment["PATH"])
        guard let shell = Self.shellCommand(shellName, hasBash: hasBash) else {
            return ("step `\(name)`: shell `\(shellName ?? "")` cannot run here (Windows shells, or a custom shell without `{0}`)", [:], nil)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return ("step `\(name)`: working directory `\(directory)` does not exist", [:], nil)
        }
        let scriptPath = "\(context.scratch)/\(UUID().uuidString).\(shell.ext)"
        guard FileManager.default.createFile(atPath: scriptPath, contents: Data(script.utf8), attributes: [.posixPermissions: 0o600]) else {
            return ("step `\(name)`: cannot write its script to \(scriptPath)", [:], nil)
        }
        defer { unlink(scriptPath) }  // it holds the expressions' values (secrets among them)
        var argv = shell.argv.map { $0.replacing("{0}", with: scriptPath) }
        // `shell: python` runs `python`; where the system has only `python3` (Debian), that one.
        let path = (state.path + [options.baseEnvironment["PATH"] ?? "/usr/bin:/bin"]).joined(separator: ":")
        if argv.first == "python", !WorkflowHashFiles.onPath("python", path: path), WorkflowHashFiles.onPath("python3", path: path) {
            argv[0] = "python3"
        }
        let outcome = await runStepProcess(
            argv, name: name, context: context, frame: frame, actionID: actionID, stepEnv: stepEnv, directory: directory, timeout: stepTimeout, state: &state,
            pgids: &pgids)
        return (outcome.failure, outcome.outputs, outcome.exitCode)
    }

    /// Runs one process of a step (a `run` script's shell, a JavaScript action's `node`) with
    /// the step's environment (`extra` last), its file commands and workflow commands; applies
    /// `$GITHUB_ENV` and `$GITHUB_PATH` to the job and returns the step's outputs and the
    /// values it saved with `$GITHUB_STATE`.
    func runStepProcess(
        _ argv: [String], name: String, context: WorkflowJobContext, frame: StepFrame, actionID: String, stepEnv: [(String, String)], directory: String,
        timeout stepTimeout: TimeSpan?, extra: [String: String] = [:], state: inout WorkflowJobState, pgids: inout [Int32]
    ) async -> (failure: String?, outputs: [String: String], exitCode: Int32?, saved: [String: String]) {
        let job = context.job
        let workspace = context.workspace
        let temp = context.temp
        let log = context.log
        let deadline = context.deadline
        let id = UUID().uuidString
        let files = WorkflowFileCommands(directory: context.scratch, id: id)
        files.create()
        defer { files.remove() }

        var env = options.baseEnvironment
        for (k, v) in options.workflow?.variables ?? [:] { env[k] = v }
        for (k, v) in state.envContext(stepEnv) { env[k] = v }
        for (k, v) in context.extraEnv { env[k] = v }
        if let path = frame.actionPath { env["GITHUB_ACTION_PATH"] = path }
        if !state.path.isEmpty { env["PATH"] = (state.path + [env["PATH"] ?? "/usr/bin:/bin"]).joined(separator: ":") }
        env["GITHUB_WORKSPACE"] = workspace
        env["GITHUB_JOB"] = Self.githubJob(job)
        env["GITHUB_ACTION"] = actionID
        env["RUNNER_TEMP"] = temp
        env["RUNNER_TOOL_CACHE"] = toolCache
        files.apply(&env)
        if env["CI"] == nil { env["CI"] = "true" }
        for name in ["GIT_EDITOR", "VISUAL", "EDITOR"] where stepEnv.first(where: { $0.0 == name }) == nil { env[name] = "false" }
        for (k, v) in extra { env[k] = v }
        let clock = ContinuousClock()
        let remaining = deadline - clock.now
        let jobLimited = stepTimeout.map { $0.duration >= remaining } ?? true
        let timeout = TimeSpan(milliseconds: max(0, (jobLimited ? remaining : stepTimeout!.duration).milliseconds))
        let commands = Locked(WorkflowCommandState())
        commands.withLock { $0.debug = options.workflow?.debug ?? false }
        let jobID = job.id
        let observer = self.observer
        let masker = self.masker
        let notices = Locked<[(String, String)]>([])
        let outcome = await runner.run(
            ProcessRequest(
                argv: namespaces.wrap(argv, job: job.id), environment: ProcessEnvironment(base: environmentBase, overrides: env), workingDirectory: directory,
                timeout: timeout, killGrace: options.killGrace, idleTimeout: job.idleTimeout),
            cancellation: cancellation
        ) { line in
            let shown = commands.withLock { state -> WorkflowCommandState.Shown in
                let before = state.masks.count
                let shown = state.consume(line.text)
                if state.masks.count > before { masker.learn(state.masks[before...]) }
                return shown
            }
            switch shown {
            case .hidden: return
            case .line(let text):
                let masked = masker(text)
                log.write(masked)
                observer.handle(.output(job: jobID, line: masked))
            case .annotation(let level, let text):
                let masked = masker(text)
                log.write("\(level): \(masked)")
                // Errors and warnings become notices (shown once, and in the summary).
                if level == "notice" { observer.handle(.output(job: jobID, line: "notice: \(masked)")) }
                notices.withLock { $0.append((level, masked)) }
            }
        }
        if let pid = outcome.pid { pgids.append(pid) }
        for (level, text) in notices.value where level != "notice" { notice(job.id, .warning, "\(level): \(text) (step `\(name)`)") }
        let commandState = commands.value
        for warning in commandState.warnings { emitLine(job.id, "warning: \(warning)", log) }

        let collected = files.collect()
        for warning in collected.warnings { emitLine(job.id, "warning: \(masker(warning))", log) }
        for (k, v) in collected.env where !WorkflowFileCommands.reserved(k) { state.fileEnv[k] = v }
        for dir in collected.path {
            state.path.removeAll { $0 == dir }
            state.path.insert(dir, at: 0)
        }
        state.summary += collected.summary
        var outputs = commandState.outputs
        for (k, v) in collected.outputs { outputs[k] = v }

        // `::save-state` (toolkits before @actions/core 1.10), then `$GITHUB_STATE`.
        var saved = commandState.state
        for (k, v) in collected.state { saved[k] = v }
        switch outcome.termination {
        case .exited(0): return (nil, outputs, 0, saved)
        case .exited(let code): return ("step `\(name)` exited with code \(code)", outputs, code, saved)
        case .signaled(let s): return ("step `\(name)` was killed by signal \(s)", outputs, nil, saved)
        case .timedOut:
            return (jobLimited ? "job timed out after \(job.timeout) (step `\(name)`)" : "step `\(name)` timed out after \(stepTimeout!)", outputs, nil, saved)
        case .idleTimedOut: return ("step `\(name)` printed nothing for \(job.idleTimeout!) (idle-timeout)", outputs, nil, saved)
        case .cancelled: return ("cancelled: \(cancellation.reason ?? "interrupted")", outputs, nil, saved)
        case .failedToStart(let why): return ("step `\(name)` could not start: \(why)", outputs, nil, saved)
        }
    }
}
