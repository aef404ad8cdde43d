import Foundation
import ShipgateActionsCache
import ShipgateEngine
import ShipgateExpressions
import ShipgateGate
import ShipgateGit
import ShipgateModel
import ShipgatePlanning
import ShipgatePostgres
import ShipgateProcess
import ShipgateRelease
import ShipgateReport
import ShipgateState

/// Executes a plan for `run` and `resume`: secrets, the run directory, the state store, the
/// deploy controller, the executor, the end summary and the exit code.
struct RunSession {
    var execution: ExecutionOptions
    var pipeline: Pipeline
    var plan: ExecutionPlan
    /// The pipeline file as the user named it (for the trusted policy lookup).
    var pipelineFile: String
    var home: Workspace
    var workspace: Workspace
    var context: RunContext
    var selection: [String]
    /// Set by `resume`: the run to continue, with its recorded jobs.
    var resumeRun: (row: RunRow, jobs: [String: JobResult])?
    /// `--no-deps`: needed jobs ran elsewhere; their results come from `SHIPGATE_NEEDS`.
    var withoutNeeds = false
    var onForce: @Sendable () -> Void = {}
    /// For a GitHub workflow: what its contexts are built from.
    var workflow: WorkflowSettings?
    /// For a GitHub workflow: where its actions of other repositories come from.
    var actionRepositories: ActionRepositories?

    /// The contexts of a workflow run: `github` with this run's id, the event payload written to
    /// the run directory, and the secrets the workflow reads (from --secrets-file, else
    /// shipgate's environment; an absent one is empty, with one warning, as on GitHub).
    private func workflowRuntime(
        _ settings: WorkflowSettings, runID: String, runDirectory: RunDirectory, fileValues: [String: String], style: Style
    ) -> WorkflowRuntime {
        let base = settings.github
        let github = ExpressionObject(zip(base.keys, base.orderedValues).map { key, value in (key, key == "run_id" ? .string(runID) : value) })
        let eventPath = runDirectory.root + "/event.json"
        try? (github["event"]?.json ?? "{}").write(toFile: eventPath, atomically: true, encoding: .utf8)
        var secrets: [String: String] = [:]
        var missing: [String] = []
        var withheld = Set<String>()
        // Names are case-insensitive: `secrets.npm_token` reads NPM_TOKEN (or npm_token).
        func lookup(_ name: String) -> (name: String, value: String)? {
            for source in [fileValues, LaunchEnvironment.values] {
                if let value = source[name] { return (name, value) }
                if let match = source.first(where: { $0.key.uppercased() == name.uppercased() }) { return (match.key, match.value) }
            }
            return nil
        }
        for name in plan.secrets + ["GITHUB_TOKEN"] {
            if let (found, value) = lookup(name) {
                secrets[name] = value
                withheld.insert(found)
            } else if name != "GITHUB_TOKEN" {
                missing.append(name)
            }
        }
        if !missing.isEmpty {
            FileDescriptorSink.standardError.write(
                style.yellow(
                    "warning: secret\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) not set: read as empty, as on GitHub (export it, or pass --secrets-file)"
                )
                    + "\n")
        }
        var runtime = WorkflowRuntime(
            github: github, vars: settings.vars, inputs: settings.inputs, secrets: secrets,
            variables: WorkflowOptions.variables(github, eventPath: eventPath))
        (runtime.selfActions, runtime.selfActionDigests) = SelfActions.extract(plan, workspace: workspace.root, into: runDirectory.root + "/actions")
        runtime.withheld = withheld
        let environment = ProcessInfo.processInfo.environment
        runtime.debug = environment["RUNNER_DEBUG"] == "1" || secrets["ACTIONS_STEP_DEBUG"] == "true"
        return runtime
    }

    func execute() async throws {
        var plan = self.plan
        let style = Terminal.stderrStyle
        let environment = ProcessInfo.processInfo.environment

        // The trusted policy (environments and keyring from the trusted ref), when the pipeline has environments.
        // Loaded even when the working tree declares no environments: the trusted ones name the
        // secrets to withhold, whatever a branch removed from its own copy.
        let policy = await TrustedRefFetch.load(
            pipeline: pipeline, pipelinePath: pipelineFile, trustRef: execution.gate.resolvedTrustRef, keyringPath: execution.gate.keyringPath,
            style: style)
        if !policy.environmentsKnown, let problem = policy.problem {
            // Said on every run, deploying or not: environment secrets cannot be told apart.
            FileDescriptorSink.standardError.write(
                style.yellow(
                    "warning: \(problem); environment secrets that are only in shipgate's environment cannot be withheld from jobs: fetch the trusted ref"
                ) + "\n")
        }
        // Secrets (SecretPolicy): pipeline secrets go to every job; environment secrets only to
        // their environment's admitted deploys; from here on no child inherits any of them.
        let secrets: RunSecrets
        var fileValues: [String: String] = [:]  // --secrets-file, read once
        do {
            fileValues = try execution.secretsFile.map(SecretSource.parseFile) ?? [:]
            // A workflow's secrets are not in any step's environment: they reach a step only
            // through `${{ secrets.NAME }}` (see `workflowRuntime`).
            secrets = try RunSecrets.resolve(
                required: (workflow == nil ? plan.secrets : []) + execution.secretNames, pipeline: pipeline, policy: policy, launch: LaunchEnvironment.values,
                file: fileValues)
            LaunchEnvironment.withhold(secrets.withheld)
            // Without the trusted environments, no name is known to be safe for every job.
            if !policy.environmentsKnown, !secrets.pipeline.isEmpty {
                let names = secrets.pipeline.keys.sorted().joined(separator: ", ")
                FileDescriptorSink.standardError.write(
                    "\(style.red(style.bold("error:"))) \(policy.problem ?? "the trusted policy cannot be read"): shipgate cannot tell which secrets the trusted ref reserves for environments, so it gives none to jobs (\(names)); no job was started\n  \(style.cyan("hint:")) fetch the trusted ref (in GitHub Actions: actions/checkout with `fetch-depth: 0`, or `git fetch origin main`), or name it with --trust-ref\n"
                )
                throw ExitWith(code: Exit.invalid)
            }
        } catch let missing as SecretSource.Missing {
            let names = missing.names.joined(separator: ", ")
            FileDescriptorSink.standardError.write(
                "\(style.red(style.bold("error:"))) missing secret\(missing.names.count == 1 ? "" : "s") \(names): no job was started\n  \(style.cyan("hint:")) export \(missing.names[0])=… or pass --secrets-file FILE with \(missing.names[0])=…\n"
            )
            throw ExitWith(code: Exit.invalid)
        } catch let problem as SecretSource.FileProblem {
            FileDescriptorSink.standardError.write("\(style.red(style.bold("error:"))) \(problem.description)\n")
            throw ExitWith(code: Exit.invalid)
        }

        // The state store: required when the pipeline deploys, best effort otherwise.
        let deploys = plan.jobs.contains { $0.deploy != nil && $0.status != .skip }
        var store: (any StateStore)?
        do {
            let s = try await StateLocation.open(url: StateLocation.url(execution.stateURL), stateDirectory: home.stateDirectory)
            for id in try await s.markInterrupted() where id != resumeRun?.row.id {
                FileDescriptorSink.standardError.write(
                    style.dim("note: run \(id) was interrupted (its shipgate process is gone); `shipgate resume \(id)` continues it") + "\n")
            }
            store = s
        } catch {
            if deploys {
                FileDescriptorSink.standardError.write(
                    "\(style.red(style.bold("error:"))) \(error)\n  \(style.cyan("hint:")) deploys need the state database; pass a writable --state-dir\n")
                throw ExitWith(code: Exit.invalid)
            }
            FileDescriptorSink.standardError.write(style.yellow("warning: \(error); the run is not recorded in the state database") + "\n")
        }

        // The run directory: a new one, or the resumed run's.
        var runID = resumeRun?.row.id ?? RunDirectory.newRunID()
        var runDirectory = RunDirectory(stateDirectory: home.stateDirectory, runID: runID)
        do {
            if resumeRun == nil {
                while try !runDirectory.claim() {
                    runID = RunDirectory.newRunID()
                    runDirectory = RunDirectory(stateDirectory: home.stateDirectory, runID: runID)
                }
            }
            try runDirectory.create()
        } catch {
            FileDescriptorSink.standardError.write(
                "\(style.red(style.bold("error:"))) cannot create \(runDirectory.root): \(error.localizedDescription)\n  \(style.cyan("hint:")) pass a writable --state-dir\n"
            )
            throw ExitWith(code: Exit.invalid)
        }
        let actor = resumeRun?.row.actor ?? context.actor
        var imported: [ApprovalStatement] = []
        if let store {
            let git = context.git
            let selectionJSON = selection.isEmpty ? nil : StateText.jsonArray(selection)
            do {
                try await store.beginRun(
                    RunRow(
                        id: runID, pipeline: pipeline.name, pipelineFile: URL(fileURLWithPath: pipelineFile).standardizedFileURL.path,
                        pipelineDigest: pipeline.digest, status: "running", actor: actor,
                        commitID: git?.commit, branch: git?.branch, version: git?.version, workspace: home.root, partial: !selection.isEmpty,
                        selection: selectionJSON, git: StateText.canonicalJSON(context.interpolation), startedAt: StateTime.string(Date())))
            } catch {
                // Only a resume can collide: another process took the run over first.
                throw fail("\(error)", hint: resumeRun == nil ? "pass a writable --state-dir" : "another `shipgate resume \(runID)` is running it")
            }
            imported = try await execution.gate.importApprovals(into: store, actor: context.actor, style: style)
            if let resumeRun {
                _ = try? await store.audit(kind: "resume", actor: context.actor, runID: runID, detail: ["previousStatus": resumeRun.row.status])
            }
        }

        // Steps die with shipgate even when it is killed outright (`kill -9`); daemons steps
        // detached end with the run.
        let supervision = RunSupervision(onForce: onForce)
        defer { supervision.end() }
        let groups = supervision.groups
        let token = supervision.token
        // A lease this run needs went to another runner (or could not be renewed): stop, as on
        // --fail-fast, rather than deploy beside it.
        if let shared = store as? PostgresStateStore {
            shared.onLeaseLost { reason in
                FileDescriptorSink.standardError.write("warning: \(reason); stopping this run\n")
                token.cancel(reason: reason, interrupt: false)
            }
        }

        // In GitHub Actions, every secret value is masked by the runner before anything prints.
        if execution.resolvedMode(environment: environment) == .github {
            FileDescriptorSink.standardOutput.write(GitHubReporter.maskCommands(secrets.maskedValues))
        }
        // Actions of other repositories: fetched and read before any job starts.
        var fetched = RemoteActions.Prepared()
        if workflow != nil, let repositories = actionRepositories {
            fetched = RemoteActions.prepare(
                &plan, workspace: workspace.root, into: runDirectory.root + "/actions/_fetched", repositories: repositories,
                requirePinned: workflow?.requirePinned ?? false)
            for line in fetched.lines { FileDescriptorSink.standardError.write(style.dim(line) + "\n") }
            for warning in fetched.warnings { FileDescriptorSink.standardError.write(style.yellow("warning: \(warning)") + "\n") }
        }
        let summaryPlan = plan
        let reporter = execution.makeReporter(environment: environment)
        var observers: [any RunObserver] = [reporter]
        let recorder = store.map { StateRecorder(store: $0, runID: runID) { message in reporter.handle(.notice(job: nil, level: .warning, message: message)) } }
        if let recorder { observers.append(recorder) }
        let observer = ObserverList(observers)
        // Steps never get the state store's credentials: with them a job could write releases,
        // approvals or the audit log directly.
        var options = RunOptions(
            runID: runID, workspace: workspace.root, runDirectory: runDirectory,
            parallelism: execution.parallelism ?? ProcessInfo.processInfo.activeProcessorCount, failFast: execution.failFast,
            killGrace: TimeSpan(milliseconds: Int64(execution.killGrace * 1000)), baseEnvironment: secrets.stepEnvironment, secrets: secrets.pipeline)
        options.extraMasked = secrets.maskedValues
        options.noCache = execution.cacheOptions.noCache
        options.contextEnvironment = context.environment
        options.contextEnvironment["SHIPGATE_ACTOR"] = actor
        options.contextSummary = context.git == nil ? context.summary : "git: " + context.summary
        options.git = context.interpolation
        options.partial = !selection.isEmpty
        options.previousResults = resumeRun?.jobs ?? [:]
        if let workflow {
            options.workflow = workflowRuntime(workflow, runID: runID, runDirectory: runDirectory, fileValues: fileValues, style: style)
            options.workflow!.actions = fetched.actions
            options.workflow!.actionDigests = fetched.digests
            if !fetched.nodeMajors.isEmpty {
                options.workflow!.node = NodeRuntimes.choose(
                    for: fetched.nodeMajors, environment: options.baseEnvironment, shims: runDirectory.root + "/toolchains")
            }
            let names = Set(options.workflow!.secrets.keys).union(options.workflow!.withheld)
            LaunchEnvironment.withhold(names)
            options.baseEnvironment = options.baseEnvironment.filter { !names.contains($0.key) }
            options.extraMasked += options.workflow!.secrets.values.filter { !$0.isEmpty }
        }
        let cache = execution.cacheOptions.context(stateDirectory: home.stateDirectory, workspace: workspace.root, readOnly: false, reporter: reporter)
        // Ctrl-C stops a remote transfer in flight, not only the steps.
        if let remote = cache?.remote {
            token.onCancel(observer: ObjectIdentifier(remote)) {
                if token.isInterrupt { remote.cancel(reason: "cancelled (\(token.reason ?? "interrupted"))") }
            }
        }
        defer { if let remote = cache?.remote { token.removeObserver(ObjectIdentifier(remote)) } }
        // JavaScript actions get the cache service `@actions/cache` talks to, backed by this cache.
        var actionsCache: ActionsCacheServer?
        if options.workflow != nil, !fetched.nodeMajors.isEmpty, let local = cache?.local {
            do {
                let github = options.workflow!.github
                var defaultBranch: String?
                if case .object(let event)? = github["event"], case .object(let repository)? = event["repository"] {
                    defaultBranch = repository["default_branch"]?.text
                }
                let scopes = ActionsCacheScopes(
                    repository: github["repository"]?.text ?? "local", ref: github["ref"]?.text ?? "", baseBranch: github["base_ref"]?.text,
                    defaultBranch: defaultBranch)
                let server = ActionsCacheServer(store: try ActionsCacheStore(cache: local), scopes: scopes)
                options.workflow!.serviceVariables = try await server.start()
                options.extraMasked.append(server.runtimeToken)
                actionsCache = server
            } catch {
                reporter.handle(
                    .notice(job: nil, level: .warning, message: "the actions cache service did not start (\(error)): @actions/cache will not cache"))
            }
        }

        // Stopped on every way out, an early error included (`stop` does not wait).
        defer { actionsCache?.stopNow() }

        if let store, !pipeline.environments.isEmpty {
            if deploys {
                reporter.handle(.notice(job: nil, level: .info, message: "deploy policy from \(policy.source)"))
                for note in policy.notes { reporter.handle(.notice(job: nil, level: .warning, message: note)) }
                let protected = plan.jobs.contains { job in
                    job.status != .skip && job.deploy.map { policy.environments[$0.environment]?.isProtected ?? false } ?? false
                }
                if protected, store is SQLiteStateStore {
                    reporter.handle(
                        .notice(
                            job: nil, level: .warning,
                            message:
                                "the state store \(store.location) is a file this run's steps can write (they run as the same user): for protected environments use a shared PostgreSQL store (--state postgres://…, whose credentials never reach steps) or run steps as another user (docs/deploy-gates.md#threat-model)"
                        ))
                }
            }
            var settings = DeployController.Settings(
                runID: runID, actor: actor, pipelineDigest: pipeline.digest, context: context,
                declaredJobs: Dictionary(plan.jobs.map { ($0.id, $0.job) }, uniquingKeysWith: { a, _ in a }), breakGlass: execution.gate.breakGlass,
                wait: execution.gate.waitSpan, lockTimeout: execution.gate.lockTimeoutSpan, environmentSecrets: secrets.environment,
                now: GateClock.resolve(style: style))
            settings.imported = imported
            settings.pollInterval = execution.gate.pollIntervalSpan
            settings.secretFetcher = SecretFetcher(
                runner: HostProcessRunner(groups: groups), environment: secrets.stepEnvironment, workingDirectory: workspace.root)
            if execution.resolvedMode(environment: environment) == .github {
                settings.onSecretsFetched = { values in FileDescriptorSink.standardOutput.write(GitHubReporter.maskCommands(values)) }
            }
            options.deployments = DeployController(
                store: store, policy: policy, settings: settings, files: cache?.files, remote: cache?.remote, observer: observer, cancellation: token)
        }

        if withoutNeeds {
            let runnable = Set(plan.runnable.map(\.id))
            let needs = Array(Set(plan.runnable.flatMap(\.needs)).subtracting(runnable)).sorted()
            let declared = Dictionary(plan.jobs.map { ($0.id, $0.job) }, uniquingKeysWith: { a, _ in a })
            var external = ExternalNeeds.results(
                needs, declared: declared, continueOnError: Dictionary(plan.jobs.map { ($0.id, $0.continueOnError) }, uniquingKeysWith: { a, _ in a }),
                json: environment["SHIPGATE_NEEDS"])
            if let dir = execution.importArtifacts, let cache {
                do {
                    for (job, digest) in try ArtifactTransfer.importArtifacts(from: dir, jobs: needs, runDirectory: runDirectory, cache: cache) {
                        external[job]?.artifactsDigest = digest
                    }
                } catch {
                    FileDescriptorSink.standardError.write("\(style.red(style.bold("error:"))) cannot import artifacts from \(dir): \(error)\n")
                    throw ExitWith(code: Exit.invalid)
                }
            }
            options.externalResults = external
        }

        // Deploys that receive environment secrets run alone, after what earlier jobs left
        // running is stopped: no other process of the run can read their /proc/PID/environ.
        // (plan is this function's own copy)
        for i in plan.jobs.indices {
            guard let environment = plan.jobs[i].deploy?.environment else { continue }
            let declared = policy.untrusted.contains(environment) ? pipeline.environment(environment) : policy.environments[environment]
            if !(declared?.secrets.isEmpty ?? true) { plan.jobs[i].runsAlone = true }
        }
        options.helperExecutable = SelfExecutable.path
        let reaperPID = groups.reaper?.pid
        options.beforeRunningAlone = {
            // Killing a daemon hands its own children to shipgate (the subreaper): repeat.
            for _ in 0..<20 where DetachedProcesses.stopAdopted(keep: reaperPID.map { [$0] } ?? []) > 0 {}
        }
        let executor = Executor(plan: plan, options: options, runner: HostProcessRunner(groups: groups), observer: observer, cancellation: token, cache: cache)
        let result = await executor.run()
        // The step summary's gates and releases, read from the store once the run is over.
        if execution.resolvedMode(environment: environment) == .github, let path = environment["GITHUB_STEP_SUMMARY"], !path.isEmpty {
            let sections = await GitHubSummary.sections(store: store, runID: runID, plan: summaryPlan)
            // The reporter's summary ends with a blank line already.
            if !sections.isEmpty { GitHubReporter.append((sections.hasPrefix("\n") ? String(sections.dropFirst()) : sections) + "\n", to: path) }
        }
        await actionsCache?.stop()
        await recorder?.flush()
        if let dir = execution.exportArtifacts, let cache {
            do { try ArtifactTransfer.exportArtifacts(of: result.jobs, runDirectory: runDirectory, cache: cache, into: dir) } catch {
                FileDescriptorSink.standardError.write("warning: cannot export artifacts to \(dir): \(error)\n")
            }
        }
        var storeIncomplete = recorder?.failed ?? false
        if let store {
            do { try await store.finishRun(runID, status: result.status.rawValue) } catch {
                storeIncomplete = true
                reporter.handle(
                    .notice(
                        job: nil, level: .warning,
                        message: "cannot record the end of the run in the state store \(store.location): \(error); it may show the run as running"))
            }
        }
        // Retention: the newest runs stay (SHIPGATE_KEEP_RUNS, default 50), this one always.
        let keepRuns = RunRetention.defaultKeep(environment: ProcessInfo.processInfo.environment)
        if keepRuns > 0 {
            _ = RunRetention.prune(
                runsDirectory: (runDirectory.root as NSString).deletingLastPathComponent, keep: keepRuns, maxAge: nil, protecting: [runID])
        }

        if let junit = execution.junit {
            let xml = JUnitReport.render(
                result,
                testCases: { job in
                    guard job.tests != nil, let data = FileManager.default.contents(atPath: runDirectory.testsPath(for: job.id)) else { return [] }
                    return (try? JSONDecoder().decode([TestCase].self, from: data)) ?? []
                }
            ) { job in
                job.log.map { JobLog.tail(path: runDirectory.root + "/" + $0, lines: 50) } ?? []
            }
            do { try xml.write(toFile: junit, atomically: true, encoding: .utf8) } catch {
                FileDescriptorSink.standardError.write("warning: cannot write JUnit report \(junit): \(error.localizedDescription)\n")
            }
        }
        switch result.status {
        // Interrupted after the last step (while results went to the remote cache): 130 all the same.
        case .success:
            if token.isInterrupt { throw ExitWith(code: Exit.interrupted) }
            if result.recordIncomplete == true || storeIncomplete { throw ExitWith(code: Exit.recordIncomplete) }
        case .blocked: throw ExitWith(code: Exit.blocked)
        case .cancelled, .interrupted: throw ExitWith(code: Exit.interrupted)
        case .failed, .running: throw ExitWith(code: token.isInterrupt ? Exit.interrupted : Exit.jobFailed)
        }
    }
}
