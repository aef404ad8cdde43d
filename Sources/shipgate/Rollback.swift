import ArgumentParser
import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateGit
import ShipgateModel
import ShipgatePlanning
import ShipgateRelease
import ShipgateReport
import ShipgateState

extension Shipgate {
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Roll an environment back by hand to the previous (or a named) good release, using its retained artifacts.",
            discussion: "Runs the `rollback` steps of the job that deploys to the environment, with SHIPGATE_ROLLBACK_* describing the target. Audited.")

        @Option(help: "The environment to roll back.")
        var env: String

        @Option(help: "The release to return to (default: the good release before the current one).")
        var to: String?

        @OptionGroup var pipeline: PipelineOptions

        @Option(help: "A .env-style file of secret values (NAME=value).", completion: .file())
        var secretsFile: String?

        @Option(help: "Who rolls back (default: SHIPGATE_ACTOR, GITHUB_ACTOR, git user.name, OS user).")
        var actor: String?

        @Option(help: "Why: recorded in the audit log and on the release.")
        var reason: String?

        @Option(help: "State directory (default: .shipgate at the repository root; env SHIPGATE_STATE_DIR).", completion: .directory)
        var stateDir: String?

        @Option(
            name: .customLong("state"), help: "State store: postgres://USER@HOST:PORT/DB or sqlite:PATH (default: .shipgate/state.db; env SHIPGATE_STATE_URL).")
        var stateURL: String?

        func run() async throws {
            let style = Terminal.stderrStyle
            let environment = ProcessInfo.processInfo.environment
            let file = try pipeline.resolvedFile()
            let loaded = try pipeline.load(style: style)
            guard let job = loaded.jobs.first(where: { $0.deploy?.environment.value == env && !($0.deploy?.rollback.isEmpty ?? true) }) else {
                throw fail("no job of \(file) deploys to \(env) with `rollback` steps", hint: "add `rollback:` steps to the job with `environment: \(env)`")
            }
            let home = Workspace(pipelineFile: file, stateDirectory: stateDir)
            var state = StateOptions()
            state.stateDir = home.stateDirectory
            state.stateURL = stateURL
            let store = try state.open()
            let context = RunContext.resolve(workspace: home.root, environment: environment, actor: actor)
            // Releases of this deploy job (a matrix job's variants included), newest first.
            let releases = try store.deployments(environment: env, limit: 1000).filter { $0.job == job.id || $0.job.hasPrefix(job.id + " (") }
            let current = releases.first { $0.isGood }
            let target: DeploymentRow
            if let to {
                guard let named = releases.first(where: { $0.release == to }) else {
                    throw fail("no release \(to) in \(env)", hint: "see `shipgate history --env \(env)`")
                }
                guard named.isGood else { throw fail("release \(to) is \(named.status), not a good release to return to") }
                target = named
            } else {
                // The newest good release that differs from what is live (same commit and
                // artifacts would change nothing).
                guard
                    let previous = releases.first(where: {
                        $0.isGood && $0.release != current?.release && ($0.commitID != current?.commitID || $0.artifacts != current?.artifacts)
                    })
                else {
                    throw fail("\(env) has no earlier good release to roll back to", hint: "see `shipgate history --env \(env)`")
                }
                target = previous
            }
            if target.release == current?.release { throw fail("\(target.release) is already the current release of \(env)") }

            // The rollback job: the deploy job's rollback steps, alone.
            let (plan, _) = Planner.plan(loaded, options: .init(selectedJobs: [job.id], git: context.interpolation))
            guard var planned = plan?.jobs.first(where: { $0.job == job.id }), let deploy = planned.deploy, let plan else {
                throw fail("cannot plan job \(job.id)")
            }
            planned.steps = deploy.rollback
            planned.deploy = nil
            planned.needs = []
            planned.cache = nil
            planned.artifacts = nil
            planned.status = .run
            planned.reason = nil
            let rollbackPlan = ExecutionPlan(pipeline: plan.pipeline, waves: [[planned.id]], jobs: [planned], secrets: plan.secrets)

            let runID = RunDirectory.newRunID()
            let runDirectory = RunDirectory(stateDirectory: home.stateDirectory, runID: runID)
            try runDirectory.create()
            let cache = try? CacheContext(
                stateDirectory: home.stateDirectory, workspace: home.root, remote: nil, lookups: true, readOnly: true, trackedBlobID: nil)
            let artifactsDir = runDirectory.root + "/rollback-artifacts"
            try? FileManager.default.createDirectory(atPath: artifactsDir, withIntermediateDirectories: true)
            let remote = ProcessInfo.processInfo.environment["SHIPGATE_REMOTE_CACHE"].flatMap { $0.isEmpty ? nil : RemoteCache(url: $0) }
            let restored = await DeployController.restore(target, files: cache?.files, remote: remote, into: artifactsDir)

            let fileValues = try secretsFile.map(SecretSource.parseFile) ?? [:]
            var base = environment
            // Secret names and concurrency come from the trusted policy as well as the working
            // tree: a branch cannot free a secret or drop the lock by editing its own copy.
            let trusted = TrustedPolicy.load(
                pipeline: loaded, pipelinePath: file,
                trustRef: ProcessInfo.processInfo.environment["SHIPGATE_TRUST_REF"].flatMap { $0.isEmpty ? nil : $0 })
            let envPolicy = trusted.untrusted.contains(env) ? loaded.environment(env) : (trusted.environments[env] ?? loaded.environment(env))
            let envSecrets = envPolicy?.secrets.map(\.value) ?? []
            var masked: [String] = []
            let allSecretNames = loaded.environments.flatMap { $0.secrets.map(\.value) } + trusted.environments.values.flatMap { $0.secrets.map(\.value) }
            for other in allSecretNames where !envSecrets.contains(other) { base[other] = nil }
            for name in ["SHIPGATE_STATE_URL", "PGPASSWORD", "PGPASSFILE"] { base[name] = nil }
            for name in envSecrets {
                if let v = fileValues[name] ?? environment[name] {
                    base[name] = v
                    masked.append(v)
                }
            }
            let release = "\(env)-rollback-\(runID)"
            base["SHIPGATE_ENVIRONMENT"] = env
            base["SHIPGATE_RELEASE"] = release
            base["SHIPGATE_ROLLBACK_RELEASE"] = target.release
            base["SHIPGATE_ROLLBACK_VERSION"] = target.version ?? ""
            base["SHIPGATE_ROLLBACK_COMMIT"] = target.commitID ?? ""
            base["SHIPGATE_PREVIOUS_RELEASE"] = current?.release ?? ""
            if restored {
                base["SHIPGATE_ROLLBACK_ARTIFACTS"] = artifactsDir
            } else {
                FileDescriptorSink.standardError.write(
                    style.yellow("warning: the artifacts of \(target.release) are not in the cache; SHIPGATE_ROLLBACK_ARTIFACTS is not set") + "\n")
            }

            // One deploy at a time applies to rollbacks too.
            let slots = (envPolicy?.concurrency ?? loaded.environment(env)?.concurrency).map { (1...$0).map { "environment:\(env)#\($0)" } } ?? []
            if !slots.isEmpty {
                let holder = LockRow(name: slots[0], runID: runID, job: "rollback", actor: context.actor, acquiredAt: StateTime.string(Date()))
                if case .held(let by) = try store.tryLock(slots, holder: holder) {
                    throw fail("\(env) is being deployed by run \(by.runID) (\(by.job), \(by.actor)) since \(by.acquiredAt)", hint: "wait for it to finish")
                }
            }
            defer { try? store.unlock(slots, runID: runID, job: "rollback") }
            try store.saveDeployment(
                DeploymentRow(
                    release: release, environment: env, runID: runID, job: job.id, version: target.version, commitID: target.commitID,
                    artifacts: target.artifacts, files: target.files, status: "rolling-back", approvedBy: "", actor: context.actor,
                    rollbackOf: target.release, startedAt: StateTime.string(Date())))
            print(
                "rolling back \(env) from \(current?.release ?? "(none)") to \(target.release) (version \(target.version ?? "-"), commit \(target.commitID?.prefix(12) ?? "-"))"
            )

            var options = RunOptions(runID: runID, workspace: home.root, runDirectory: runDirectory, parallelism: 1, baseEnvironment: base)
            options.extraMasked = masked
            options.contextEnvironment = context.environment
            let token = CancellationToken()
            DetachedProcesses.adopt()
            let groups = ProcessGroups(reaper: OrphanReaper.start(executable: SelfExecutable.path))
            defer {
                DetachedProcesses.stopAdopted(keep: groups.reaper.map { [$0.pid] } ?? [])
                groups.reaper?.finish()
            }
            let trap = SignalTrap(token: token) { groups.killEverything() }
            defer { withExtendedLifetime(trap) {} }
            let result = await Executor(
                plan: rollbackPlan, options: options, runner: SubprocessRunner(groups: groups),
                observer: PlainReporter(sink: FileDescriptorSink.standardOutput, style: Terminal.stdoutStyle), cancellation: token
            ).run()
            let ok = result.status == .success
            try store.updateDeployment(
                release, status: ok ? "success" : "rollback-failed",
                detail: ok ? "manual rollback to \(target.release)\(reason.map { ": \($0)" } ?? "")" : result.jobs.first?.reason,
                finished: true)
            if ok, let current {
                try store.updateDeployment(
                    current.release, status: "rolled-back", detail: "rolled back by hand to \(target.release) by \(context.actor)", finished: true)
            }
            try store.audit(
                kind: ok ? "rollback" : "rollback-failed", actor: context.actor, environment: env, runID: runID,
                detail: ["from": current?.release ?? "", "to": target.release, "automatic": "false", "release": release, "reason": reason ?? ""])
            guard ok else {
                throw fail(
                    "rollback of \(env) to \(target.release) FAILED: \(result.jobs.first?.reason ?? "")",
                    hint: "manual action is needed; logs in \(runDirectory.root)", code: Exit.jobFailed)
            }
            print("\(env) is back at \(target.release) (new release \(release))")
        }
    }
}
