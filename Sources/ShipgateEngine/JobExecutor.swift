import Foundation
import ShipgateModel
import ShipgatePlanning

/// Runs one job: its attempts, each attempt's steps in order, backoff between attempts,
/// and the outputs file. One instance serves every job of a run; it keeps no per-job state.
struct JobExecutor: Sendable {
    let options: RunOptions
    /// `options.baseEnvironment`, encoded once for every step of the run.
    let environmentBase: ProcessEnvironment.Base
    let runner: any ProcessRunner
    let observer: any RunObserver
    let cancellation: CancellationToken
    let masker: SecretMasker

    func run(_ job: PlannedJob, neededOutputs: [String: [String: String]]) async -> JobResult {
        let clock = ContinuousClock()
        let start = clock.now
        let startedAt = Date()
        let logPath = options.runDirectory.logPath(for: job.id)
        let log = JobLog(path: logPath)
        let outputsPath = options.runDirectory.outputsPath(for: job.id)
        let groups = (runner as? SubprocessRunner)?.groups
        var result = JobResult(
            id: job.id, status: .failed, startedAt: startedAt, continueOnError: job.continueOnError)
        defer { log.flush() }

        for attempt in 1...max(1, job.retry.attempts) {
            result.attempts = attempt
            observer.handle(.jobStarted(job: job.id, attempt: attempt))
            log.mark("== \(job.id): attempt \(attempt) of \(job.retry.attempts) ==")
            // Steps create the file by appending to it; a retry starts from an empty one.
            if attempt > 1 { unlink(outputsPath) }
            let attemptDeadline = clock.now.advanced(by: job.timeout.duration)
            var pgids: [Int32] = []
            let failure = await runSteps(
                job, attempt: attempt, deadline: attemptDeadline, neededOutputs: neededOutputs, log: log, outputsPath: outputsPath, pgids: &pgids,
                result: &result)
            groups?.kill(pgids)  // background processes the steps left behind end with the attempt

            if failure == nil {
                let text = (try? String(contentsOfFile: outputsPath, encoding: .utf8)) ?? ""
                let (outputs, problems) = OutputsFile.parse(text)
                for p in problems { emitLine(job.id, "warning: $SHIPGATE_OUTPUT \(p)", log) }
                result.outputs = outputs.mapValues { masker($0) }
                result.status = .success
                result.reason = nil
                break
            }
            result.reason = masker(failure!)
            if cancellation.isCancelled {
                result.status = .cancelled
                break
            }
            result.status = .failed
            if attempt < job.retry.attempts {
                let delay = job.retry.delay(afterAttempt: attempt, unit: options.random())
                observer.handle(.attemptFailed(job: job.id, attempt: attempt, reason: result.reason!, retryIn: delay))
                log.mark("== attempt \(attempt) failed: \(result.reason!); retrying in \(delay) ==")
                if await !cancellation.sleep(delay.duration) {
                    result.status = .cancelled
                    result.reason = "cancelled while waiting to retry: \(cancellation.reason ?? "")"
                    break
                }
            } else {
                observer.handle(.attemptFailed(job: job.id, attempt: attempt, reason: result.reason!, retryIn: nil))
            }
        }
        result.durationMs = (clock.now - start).milliseconds
        result.finishedAt = Date()
        log.mark(
            "== \(job.id): \(result.status.rawValue)\(result.reason.map { " (\($0))" } ?? "") after \(TimeSpan(milliseconds: result.durationMs)) ==",
            force: result.status == .failed)
        if log.exists { result.log = (logPath as NSString).lastPathComponent }
        if log.failedWrites > 0 {
            observer.handle(.output(job: job.id, line: "warning: \(log.failedWrites) line(s) could not be written to \(logPath)"))
        }
        return result
    }

    /// Runs the steps of one attempt; returns nil on success or the reason of the failure.
    private func runSteps(
        _ job: PlannedJob, attempt: Int, deadline: ContinuousClock.Instant, neededOutputs: [String: [String: String]],
        log: JobLog, outputsPath: String, pgids: inout [Int32], result: inout JobResult
    ) async -> String? {
        let clock = ContinuousClock()
        for (index, step) in job.steps.enumerated() {
            if let reason = cancellation.reason { return "cancelled: \(reason)" }
            let resolve = { (t: Template) -> String in
                t.resolving { e in
                    if case .needsOutput(let j, let k) = e { return neededOutputs[j]?[k] ?? "" }
                    return nil
                }.description
            }
            let script = resolve(step.script)
            var env = options.secrets
            for e in step.env { env[e.name] = resolve(e.value) }
            env["SHIPGATE_RUN_ID"] = options.runID
            env["SHIPGATE_JOB"] = job.id
            env["SHIPGATE_OUTPUT"] = outputsPath
            env["SHIPGATE_WORKSPACE"] = options.workspace
            env["SHIPGATE_ATTEMPT"] = String(attempt)
            if env["CI"] == nil { env["CI"] = "true" }
            var directory = options.workspace
            if let relative = step.workingDirectory.map(resolve) {
                directory = URL(fileURLWithPath: (options.workspace as NSString).appendingPathComponent(relative)).standardizedFileURL.path
                if directory != options.workspace && !directory.hasPrefix(options.workspace + "/") {
                    return "step `\(masker(step.name))`: working directory `\(masker(relative))` leaves the workspace"
                }
            }

            let remaining = deadline - clock.now
            let jobLimited = step.timeout.map { $0.duration >= remaining } ?? true
            let timeout = TimeSpan(milliseconds: max(0, (jobLimited ? remaining : step.timeout!.duration).milliseconds))
            observer.handle(.stepStarted(job: job.id, step: masker(step.name), index: index + 1, count: job.steps.count, attempt: attempt))
            log.mark("-- step \(index + 1)/\(job.steps.count): \(masker(step.name)) --")
            let stepStart = clock.now
            let jobID = job.id
            let observer = self.observer
            let masker = self.masker
            let outcome = await runner.run(
                ProcessRequest(
                    argv: step.shell.argv(script: script), environment: ProcessEnvironment(base: environmentBase, overrides: env), workingDirectory: directory,
                    timeout: timeout, killGrace: options.killGrace),
                cancellation: cancellation
            ) { line in
                let text = masker(line.text)
                log.write(text)
                observer.handle(.output(job: jobID, line: text))
            }
            if let pid = outcome.pid { pgids.append(pid) }
            let elapsed = TimeSpan(milliseconds: (clock.now - stepStart).milliseconds)
            result.exitCode = outcome.exitCode
            observer.handle(.stepFinished(job: job.id, step: masker(step.name), exitCode: outcome.exitCode, duration: elapsed))
            log.mark("-- step \(index + 1) finished: \(Self.describe(outcome.termination)) in \(elapsed) --")
            switch outcome.termination {
            case .exited(0): continue
            case .exited(let code): return "step `\(step.name)` exited with code \(code)"
            case .signaled(let s): return "step `\(step.name)` was killed by signal \(s)"
            case .timedOut:
                return jobLimited ? "job timed out after \(job.timeout) (step `\(step.name)`)" : "step `\(step.name)` timed out after \(step.timeout!)"
            case .cancelled: return "cancelled: \(cancellation.reason ?? "interrupted")"
            case .failedToStart(let why): return "step `\(step.name)` could not start: \(why)"
            }
        }
        return nil
    }

    private func emitLine(_ job: String, _ text: String, _ log: JobLog) {
        log.write(text)
        observer.handle(.output(job: job, line: text))
    }

    static func describe(_ t: ProcessOutcome.Termination) -> String {
        switch t {
        case .exited(let c): "exit \(c)"
        case .signaled(let s): "signal \(s)"
        case .timedOut: "timed out"
        case .cancelled: "cancelled"
        case .failedToStart(let m): "not started (\(m))"
        }
    }
}
