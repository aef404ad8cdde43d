import Foundation
import ShipgateCache
import ShipgateJobCache
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

/// Runs one job: cache lookup, artifacts of needed jobs, dependency caches, its attempts (each
/// attempt's steps in order, backoff between attempts), then storing what it produced. One
/// instance serves every job of a run; it keeps no per-job state.
struct JobExecutor: Sendable {
    let options: RunOptions
    /// `options.baseEnvironment`, encoded once for every step of the run.
    let environmentBase: ProcessEnvironment.Base
    let runner: any ProcessRunner
    let observer: any RunObserver
    /// The run's token; for a variant of a workflow matrix with `fail-fast`, one of its own that
    /// the run's cancels too (a failed sibling cancels it alone).
    var cancellation: CancellationToken
    let masker: SecretMasker
    let cache: CacheContext?
    let remoteWarnings = OnceFlag()
    /// The run's `cache.jsonl`: why each cacheable job ran or was restored.
    let decisions: AppendOnlyFile
    /// The pipeline's secret names (set or not): `$SHIPGATE_ENV` may not override them.
    var secretNames: Set<String> = []
    /// Network namespaces of the running jobs with `isolation: { network: private }`.
    let namespaces = NetworkNamespaces()
    /// Each planned job's `needs` and declared `outputs`: what a private workspace receives.
    var producers: [String: (needs: [String], outputs: [String])] = [:]
    /// Private workspaces left by a killed shipgate are removed once per run, before the first.
    let sweptWorkspaces = OnceFlag()
    /// Workflow artifacts of this run: name → SHA-256 of its manifest, as uploaded (a download
    /// checks the stored manifest against it, then each file against the manifest).
    let artifactManifests = Locked<[String: String]>([:])

    /// A step with everything known at job start resolved (needs outputs, `hashFiles`).
    struct PreparedStep {
        var step: PlannedStep
        var script: String
        var env: [String: String]
        /// Workspace-relative directory as written (after interpolation), if any.
        var relativeDirectory: String?
    }

    func run(_ job: PlannedJob, needed: [String: JobResult], results: [String: JobResult] = [:]) async -> JobResult {
        let clock = ContinuousClock()
        let start = clock.now
        var result = JobResult(id: job.id, status: .failed, startedAt: Date(), continueOnError: job.continueOnError)
        func finished(_ r: JobResult) -> JobResult {
            var r = r
            r.durationMs = (clock.now - start).milliseconds
            r.finishedAt = Date()
            return r
        }

        // `toolchain`: each interpreter found; its version joins the steps' env (and so the
        // cache key), its directories go first on PATH (`SHIPGATE_TOOLCHAIN_PATH`).
        var job = job
        var toolchainPath: [String] = []
        if !job.toolchain.isEmpty {
            let resolver = ToolchainResolver(environment: options.baseEnvironment, shimDirectory: options.toolchainDirectory)
            for tool in job.toolchain.keys.sorted() {
                do {
                    let found = try resolver.resolve(tool, version: job.toolchain[tool]!)
                    toolchainPath += found.path
                    let variable = PlannedEnv(name: "SHIPGATE_TOOLCHAIN_\(tool.uppercased())", value: Template(segments: [.literal(found.version)]))
                    for i in job.steps.indices { job.steps[i].env.append(variable) }
                    notice(job.id, .info, "toolchain: \(tool) \(found.version) (\(found.source))")
                } catch {
                    result.reason = "toolchain: \(error)"
                    return finished(result)
                }
            }
        }

        let prepared: [PreparedStep]
        do { prepared = try prepare(job, needed: needed) } catch {
            result.reason = masker("\(error)")
            return finished(result)
        }

        // Job cache: restore instead of running when the key has an entry.
        var decision: CacheDecision?
        if let spec = job.cache, let cache {
            let (hit, d) = await lookup(job, spec: spec, prepared: prepared, needed: needed, cache: cache)
            decision = d
            if var hit {
                hit.startedAt = result.startedAt
                return finished(hit)
            }
        }

        let log = JobLog(path: options.runDirectory.logPath(for: job.id))
        defer { log.flush() }
        // `resource-group`: one job of the group at a time across runs too (in this run, the
        // scheduler already keeps them apart).
        var groupLock: ResourceGroupLock?
        if let group = job.resourceGroup {
            groupLock = await ResourceGroupLock.acquire(
                group, in: options.lockDirectory, every: options.lockPollInterval, cancellation: cancellation
            ) {
                notice(job.id, .info, "waiting for resource group `\(group)`: another run holds it")
            }
            if groupLock == nil {
                result.status = .cancelled
                result.reason = "cancelled while waiting for resource group `\(group)`: \(cancellation.reason ?? "interrupted")"
                return finished(result)
            }
        }
        defer { groupLock?.release() }
        if job.isolation.network == .private {
            do {
                let namespace = try NetworkNamespace.start(helper: options.helperExecutable ?? CommandLine.arguments[0])
                namespaces.set(namespace, for: job.id)
            } catch {
                result.reason = "`isolation: { network: private }`: \(error)"
                return finished(result)
            }
        }
        defer { namespaces.stop(job.id) }
        // `isolation: { workspace: private }`: the job's steps, caches and artifacts use a copy.
        var privateCopy: PrivateWorkspace?
        if job.isolation.workspace == .private {
            do {
                privateCopy = try makePrivateWorkspace(for: job)
            } catch {
                result.reason = "`isolation: { workspace: private }`: \(error)"
                return finished(result)
            }
            log.mark("== \(job.id): private workspace \(privateCopy!.root) ==")
        }
        defer { privateCopy?.remove() }
        let root = privateCopy?.root ?? options.workspace
        var extraEnv: [String: String] = [:]
        if let privateCopy {
            // git in a copy without `.git` must not find the repository around the state directory.
            let parent = (privateCopy.root as NSString).deletingLastPathComponent
            extraEnv["GIT_CEILING_DIRECTORIES"] = [options.baseEnvironment["GIT_CEILING_DIRECTORIES"], parent].compactMap { $0 }.joined(separator: ":")
        }
        if !toolchainPath.isEmpty { extraEnv["SHIPGATE_TOOLCHAIN_PATH"] = toolchainPath.joined(separator: ":") }
        var received: [FileEntry] = []
        if let cache {
            do {
                if let (dir, files) = try placeArtifacts(of: job, needed: needed, root: root, cache: cache) {
                    extraEnv["SHIPGATE_ARTIFACTS"] = dir
                    received = files
                }
            } catch {
                result.reason = masker("\(error)")
                return finished(result)
            }
        }
        // A deploy starts only once its environment's gate let it.
        var ticket: DeployTicket?
        if job.deploy != nil {
            guard let hooks = options.deployments else {
                result.reason = "job deploys to an environment, but this run has no deployment state"
                return finished(result)
            }
            switch await hooks.admit(job, results: results, artifacts: received) {
            case .blocked(let reason):
                result.status = .blocked
                result.reason = masker(reason)
                return finished(result)
            case .failed(let reason):
                result.reason = masker(reason)
                return finished(result)
            case .admitted(let t):
                ticket = t
                masker.learn(t.secrets.values)
                for (k, v) in t.variables { extraEnv[k] = v }
                for (k, v) in t.secrets { extraEnv[k] = v }
            }
        }
        let missedCaches = cache.map { restoreDependencyCaches(job, needed: needed, root: root, cache: $0) } ?? []

        result = await attempts(job, prepared: prepared, needed: needed, root: root, extraEnv: extraEnv, log: log, result: result)
        if let ticket, let deploy = job.deploy, let hooks = options.deployments {
            await finishDeploy(
                job, deploy: deploy, ticket: ticket, hooks: hooks, needed: needed, root: root, extraEnv: extraEnv, log: log, result: &result)
        }
        if !job.junit.isEmpty { readTestReports(job, root: root, since: result.startedAt ?? Date(), log: log, result: &result) }
        result = finished(result)
        if let cache { cache.invalidateTree() }

        if result.status == .success, let cache {
            saveDependencyCaches(job, missed: missedCaches, root: root, cache: cache)
            let artifacts = collectArtifacts(of: job, root: root, cache: cache, result: &result)
            // A refused artifact fails the job: nothing of it may be stored.
            if result.status == .success, let spec = job.cache, let decision {
                await store(job, spec: spec, decision: decision, artifacts: artifacts ?? [], root: root, result: &result, cache: cache)
            }
        }
        if result.status == .success, let privateCopy { copyBack(job, from: privateCopy, log: log, result: &result) }
        log.mark(
            "== \(job.id): \(result.status.rawValue)\(result.reason.map { " (\($0))" } ?? "") after \(TimeSpan(milliseconds: result.durationMs)) ==",
            force: result.status == .failed)
        if log.exists { result.log = (log.path as NSString).lastPathComponent }
        if log.failedWrites > 0 {
            notice(job.id, .warning, "\(log.failedWrites) line(s) could not be written to \(log.path)")
        }
        return result
    }

    /// The attempts loop: retries with backoff until success, cancellation or the last attempt.
    private func attempts(
        _ job: PlannedJob, prepared: [PreparedStep], needed: [String: JobResult], root: String, extraEnv: [String: String], log: JobLog,
        result: JobResult
    ) async -> JobResult {
        var result = result
        let clock = ContinuousClock()
        let outputsPath = options.runDirectory.outputsPath(for: job.id)
        let groups = runner.groups
        for attempt in 1...max(1, job.retry.attempts) {
            result.attempts = attempt
            observer.handle(.jobStarted(job: job.id, attempt: attempt))
            log.mark("== \(job.id): attempt \(attempt) of \(job.retry.attempts) ==")
            // Steps create the file by appending to it; a retry starts from an empty one.
            if attempt > 1 { unlink(outputsPath) }
            let deadline = clock.now.advanced(by: job.timeout.duration)
            var pgids: [Int32] = []
            let failure: String?
            if let github = job.github {
                failure = await runWorkflowSteps(
                    job, github: github, needed: needed, attempt: attempt, deadline: deadline, root: root, extraEnv: extraEnv, log: log,
                    outputsPath: outputsPath, pgids: &pgids, result: &result)
            } else {
                failure = await runSteps(
                    job, prepared: prepared, attempt: attempt, deadline: deadline, root: root, extraEnv: extraEnv, log: log,
                    outputsPath: outputsPath, pgids: &pgids, result: &result)
            }
            groups?.kill(pgids)  // background processes the steps left behind end with the attempt
            log.flush()  // every attempt's output is on disk when it ends

            if failure == nil {
                if job.github == nil {
                    let text = (try? String(contentsOfFile: outputsPath, encoding: .utf8)) ?? ""
                    let (outputs, problems) = OutputsFile.parse(text)
                    for p in problems { emitLine(job.id, "warning: $SHIPGATE_OUTPUT \(p)", log) }
                    result.outputs = outputs.mapValues { masker($0) }
                }
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
                if await !options.pause(delay.duration, cancellation) {
                    result.status = .cancelled
                    result.reason = "cancelled while waiting to retry: \(cancellation.reason ?? "")"
                    break
                }
            } else {
                observer.handle(.attemptFailed(job: job.id, attempt: attempt, reason: result.reason!, retryIn: nil))
            }
        }
        return result
    }

    /// Resolves what is only known when the job starts: outputs of needed jobs and `hashFiles`.
    func prepare(_ job: PlannedJob, needed: [String: JobResult]) throws -> [PreparedStep] {
        try prepare(job.steps, needed: needed)
    }

    func prepare(_ steps: [PlannedStep], needed: [String: JobResult]) throws -> [PreparedStep] {
        let outputs = needed.mapValues(\.outputs)
        let variables = variableEnvironment
        let resolve = { (t: Template) throws -> String in try CacheContext.resolve(t.expandingVariables(variables), outputs: outputs, cache: self.cache) }
        return try steps.map { step in
            PreparedStep(
                step: step, script: try resolve(step.script),
                env: Dictionary(try step.env.map { ($0.name, try resolve($0.value)) }, uniquingKeysWith: { _, b in b }),
                relativeDirectory: try step.workingDirectory.map(resolve))
        }
    }

    /// Runs the steps of one attempt; returns nil on success or the reason of the failure.
    func runSteps(
        _ job: PlannedJob, prepared: [PreparedStep], attempt: Int, deadline: ContinuousClock.Instant, root workspace: String,
        extraEnv: [String: String], log: JobLog, outputsPath: String, pgids: inout [Int32], result: inout JobResult
    ) async -> String? {
        let clock = ContinuousClock()
        var files = StepFiles(outputsPath: outputsPath)  // $SHIPGATE_ENV, $SHIPGATE_PATH
        for (index, p) in prepared.enumerated() {
            let step = p.step
            if let reason = cancellation.reason { return "cancelled: \(reason)" }
            var env = options.secrets
            for (k, v) in p.env { env[k] = v }
            files.apply(to: &env, basePath: options.baseEnvironment["PATH"])
            for (k, v) in extraEnv { env[k] = v }
            for (k, v) in options.contextEnvironment { env[k] = v }
            // Steps have no terminal (stdin is /dev/null): an editor from shipgate's environment
            // would wait forever. The one the pipeline's `env` names serves for all three; with
            // none named, editors fail at once.
            let editors = ["GIT_EDITOR", "VISUAL", "EDITOR"]
            let editor = editors.lazy.compactMap { p.env[$0] }.first ?? "false"
            for name in editors where p.env[name] == nil { env[name] = editor }
            if let first = env["SHIPGATE_TOOLCHAIN_PATH"] { env["PATH"] = first + ":" + (env["PATH"] ?? options.baseEnvironment["PATH"] ?? "/usr/bin:/bin") }
            env["SHIPGATE_RUN_ID"] = options.runID
            env["SHIPGATE_JOB"] = job.id
            env["SHIPGATE_OUTPUT"] = outputsPath
            env["SHIPGATE_WORKSPACE"] = workspace
            env["SHIPGATE_ATTEMPT"] = String(attempt)
            // What a `detach` step leaves running carries this mark, so the run's end spares it.
            let detachID = step.detach ? "\(options.runID)/\(UUID().uuidString)" : nil
            if let detachID { env[DetachedProcesses.markVariable] = detachID }
            files.prepare(&env)
            if env["CI"] == nil { env["CI"] = "true" }
            var directory = workspace
            if let relative = p.relativeDirectory {
                directory = URL(fileURLWithPath: (workspace as NSString).appendingPathComponent(relative)).standardizedFileURL.path
                if directory != workspace && !directory.hasPrefix(workspace + "/") {
                    return "step `\(masker(step.name))`: working directory `\(masker(relative))` leaves the workspace"
                }
            }

            let remaining = deadline - clock.now
            let jobLimited = step.timeout.map { $0.duration >= remaining } ?? true
            let timeout = TimeSpan(milliseconds: max(0, (jobLimited ? remaining : step.timeout!.duration).milliseconds))
            observer.handle(.stepStarted(job: job.id, step: masker(step.name), index: index + 1, count: prepared.count, attempt: attempt))
            log.mark("-- step \(index + 1)/\(prepared.count): \(masker(step.name)) --")
            let stepStart = clock.now
            let jobID = job.id
            let observer = self.observer
            let masker = self.masker
            let diagnosis = Locked<ExitDiagnosis.Finding?>(nil)  // what the shell said it could not run
            let outcome = await runner.run(
                ProcessRequest(
                    argv: namespaces.wrap(step.shell.argv(script: p.script), job: job.id),
                    environment: ProcessEnvironment(base: environmentBase, overrides: env),
                    workingDirectory: directory, timeout: timeout, killGrace: options.killGrace, idleTimeout: job.idleTimeout),
                cancellation: cancellation
            ) { line in
                let text = masker(line.text)
                if let finding = ExitDiagnosis.parse(text) { diagnosis.withLock { $0 = finding } }
                log.write(text)
                observer.handle(.output(job: jobID, line: text))
            }
            if let detachID, outcome.succeeded, let pid = outcome.pid {
                runner.groups?.release(pid)
                DetachedProcesses.keep(detachID)
            } else if let pid = outcome.pid {
                pgids.append(pid)
            }
            let elapsed = TimeSpan(milliseconds: (clock.now - stepStart).milliseconds)
            result.exitCode = outcome.exitCode
            observer.handle(.stepFinished(job: job.id, step: masker(step.name), exitCode: outcome.exitCode, duration: elapsed))
            log.mark("-- step \(index + 1) finished: \(Self.describe(outcome.termination)) in \(elapsed) --")
            for warning in files.collect(protected: secretNames.union(options.secrets.keys).union(extraEnv.keys)) {
                emitLine(job.id, "warning: \(masker(warning))", log)
            }
            switch outcome.termination {
            case .exited(0): continue
            case .exited(let code):
                let why = ExitDiagnosis.explain(code: code, diagnosis.value).map { ": \($0)" } ?? ""
                return "step `\(step.name)` exited with code \(code)\(why)"
            case .signaled(let s): return "step `\(step.name)` was killed by signal \(s)"
            case .timedOut:
                return jobLimited ? "job timed out after \(job.timeout) (step `\(step.name)`)" : "step `\(step.name)` timed out after \(step.timeout!)"
            case .idleTimedOut: return "step `\(step.name)` printed nothing for \(job.idleTimeout!) (idle-timeout)"
            case .cancelled: return "cancelled: \(cancellation.reason ?? "interrupted")"
            case .failedToStart(let why): return "step `\(step.name)` could not start: \(why)"
            }
        }
        return nil
    }

    func notice(_ job: String?, _ level: NoticeLevel, _ message: String) {
        observer.handle(.notice(job: job, level: level, message: masker(message)))
    }

    func emitLine(_ job: String, _ text: String, _ log: JobLog) {
        log.write(text)
        observer.handle(.output(job: job, line: text))
    }

    static func describe(_ t: ProcessOutcome.Termination) -> String {
        switch t {
        case .exited(let c): "exit \(c)"
        case .signaled(let s): "signal \(s)"
        case .timedOut: "timed out"
        case .idleTimedOut: "idle timeout"
        case .cancelled: "cancelled"
        case .failedToStart(let m): "not started (\(m))"
        }
    }
}
