import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateGate
import ShipgateGit
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess
import ShipgateState

/// A rollback by hand, for `shipgate rollback` and the release console alike.
///
/// Contract: `prepare` decides everything from the trusted policy and the state store, with no
/// side effect: who asked (`RollbackAuthority`), which release to return to (only releases made
/// under the trusted policy, `countsAsTarget`), and which steps run: the `rollback` steps of the
/// job that made the target release *as the trusted ref declares it*, never the working tree's.
/// `run` takes the environment's deploy lock (every slot), checks that what is live did not
/// change since `prepare`, audits the request before any step runs (no audit trail, no
/// rollback), records a `rolling-back` release, restores the target's retained artifacts, and
/// runs the steps, and any secret-manager command, in a fresh checkout of the trusted commit
/// (never the caller's working tree, whose scripts a branch controls), with the environment's
/// secrets; then records and audits the outcome. An outcome it cannot audit is a failure.
public struct ManualRollback: Sendable {
    public struct Request: Sendable {
        public var environment: String
        /// The release to return to; nil: the newest trusted good release unlike the live one.
        public var to: String?
        public var actor: String
        /// The proven approver: a key's keyring name (CLI) or a console user's approver name.
        public var approver: String?
        /// The request's signature (CLI `--key`), recorded in the audit log.
        public var signature: String?
        public var reason: String
        /// `cli` or `console`.
        public var via: String

        public init(environment: String, to: String?, actor: String, approver: String?, signature: String? = nil, reason: String, via: String) {
            self.environment = environment
            self.to = to
            self.actor = actor
            self.approver = approver
            self.signature = signature
            self.reason = reason
            self.via = via
        }
    }

    /// What a rollback runs with.
    public struct Setting: Sendable {
        public var store: any StateStore
        public var policy: TrustedPolicy
        public var context: RunContext
        public var workspace: String
        public var stateDirectory: String
        public var files: FileSet?
        public var remote: RemoteCache?
        /// Where secret values come from (the launch environment, then `--secrets-file` values).
        public var secretValues: [String: String]
        /// What steps start from (`SecretPolicy.stepEnvironment`).
        public var stepEnvironment: [String: String]
        public var runner: any ProcessRunner

        public init(
            store: any StateStore, policy: TrustedPolicy, context: RunContext, workspace: String, stateDirectory: String, files: FileSet?,
            remote: RemoteCache?, secretValues: [String: String], stepEnvironment: [String: String], runner: any ProcessRunner
        ) {
            self.store = store
            self.policy = policy
            self.context = context
            self.workspace = workspace
            self.stateDirectory = stateDirectory
            self.files = files
            self.remote = remote
            self.secretValues = secretValues
            self.stepEnvironment = stepEnvironment
            self.runner = runner
        }
    }

    public struct Prepared: Sendable {
        public var target: DeploymentRow
        public var current: DeploymentRow?
        /// The trusted deploy job with its `rollback` steps as its steps.
        public var job: PlannedJob
        /// The trusted ref's pipeline file the steps come from.
        public var source: String
        var pipeline: ExecutionPlan.PipelineInfo
        public var environment: EnvironmentPolicy
    }

    public struct Outcome: Sendable {
        public var release: String
        public var succeeded: Bool
        public var message: String
        public var runDirectory: String
    }

    public let request: Request
    public let setting: Setting

    public init(_ request: Request, setting: Setting) {
        self.request = request
        self.setting = setting
    }

    // MARK: - Deciding

    public func prepare() async throws -> Prepared {
        let name = request.environment
        let policy = setting.policy
        if let failure = RollbackAuthority.failure(approver: request.approver, environment: name, policy: policy) {
            throw ReleaseError("\(request.actor) may not roll back \(name): \(failure)")
        }
        guard let env = policy.environments[name], policy.isTrusted(name) else {
            throw ReleaseError(
                "\(name) is not in the trusted policy (\(policy.source)): it has no release a rollback may return to",
                hint: "merge the environment into the trusted ref first")
        }
        let releases = try await setting.store.deployments(environment: name, limit: 1000)
        // What runs now (after a failed rollback, the release that could not be taken back).
        let current = LiveRelease.of(releases).release
        let target: DeploymentRow
        if let to = request.to {
            guard let named = releases.first(where: { $0.release == to }) else {
                throw ReleaseError("no release \(to) in \(name)", hint: "see `shipgate history --env \(name)`")
            }
            guard named.isGood else { throw ReleaseError("release \(to) is \(named.status), not a good release to return to") }
            guard named.countsAsTarget else {
                throw ReleaseError("release \(to) was not made under the trusted policy, so it is not a release a rollback may return to")
            }
            target = named
        } else {
            // The newest trusted good release that differs from what is live (the same commit
            // and artifacts would change nothing).
            guard
                let previous = releases.first(where: {
                    $0.countsAsTarget && $0.release != current?.release && ($0.commitID != current?.commitID || $0.artifacts != current?.artifacts)
                })
            else { throw ReleaseError("\(name) has no earlier trusted good release to roll back to", hint: "see `shipgate history --env \(name)`") }
            target = previous
        }
        if target.release == current?.release { throw ReleaseError("\(target.release) is already the current release of \(name)") }
        let (job, source, pipeline) = try trustedJob(for: target, environment: name)
        return Prepared(target: target, current: current, job: job, source: source, pipeline: pipeline, environment: env)
    }

    /// The trusted deploy job that made `target` (its matrix variant), with its rollback steps.
    private func trustedJob(for target: DeploymentRow, environment name: String) throws -> (PlannedJob, String, ExecutionPlan.PipelineInfo) {
        let base = target.job.range(of: " (").map { String(target.job[..<$0.lowerBound]) } ?? target.job
        let candidates = (setting.policy.deployers[name] ?? []).filter { $0.job == base }
        let source = setting.policy.source
        guard let deployer = candidates.first else {
            throw ReleaseError(
                "\(source) has no job `\(base)` deploying to \(name): its rollback steps cannot be read from the trusted ref",
                hint: "the job that made \(target.release) must be on the trusted ref with `rollback:` steps")
        }
        let planned = candidates.map { Planner.plan($0.pipeline, options: .init(selectedJobs: [base], git: setting.context.interpolation)).0 }
        let variants = planned.compactMap { plan in plan?.jobs.first { $0.id == target.job } ?? plan?.jobs.first { $0.job == base } }
        guard var job = variants.first, let deploy = job.deploy, let info = planned.compactMap({ $0?.pipeline }).first else {
            throw ReleaseError("cannot plan job \(base) of \(source):\(deployer.path)")
        }
        // Two trusted files defining the job's rollback differently: which one is meant is ambiguous.
        if variants.contains(where: { $0.deploy?.rollback != deploy.rollback }) {
            throw ReleaseError("job `\(base)` deploying to \(name) is defined with different rollback steps in several files of \(source)")
        }
        guard !deploy.rollback.isEmpty else {
            throw ReleaseError("job `\(base)` of \(source):\(deployer.path) has no `rollback` steps", hint: "add `rollback:` steps on the trusted ref")
        }
        job.steps = deploy.rollback
        job.deploy = nil
        job.needs = []
        job.cache = nil
        job.artifacts = nil
        job.status = .run
        job.reason = nil
        return (job, "\(source):\(deployer.path)", info)
    }

    // MARK: - Running

    public func run(_ prepared: Prepared, observer: any RunObserver, cancellation: CancellationToken) async -> Outcome {
        let name = request.environment
        let store = setting.store
        let runID = RunDirectory.newRunID()
        let runDirectory = RunDirectory(stateDirectory: setting.stateDirectory, runID: runID)
        let release = "\(name)-rollback-\(runID)"
        func outcome(_ ok: Bool, _ message: String) -> Outcome {
            Outcome(release: release, succeeded: ok, message: message, runDirectory: runDirectory.root)
        }
        do { try runDirectory.create() } catch { return outcome(false, "cannot create \(runDirectory.root): \(error.localizedDescription)") }

        // A rollback excludes every deploy (all slots) and every other rollback (slot 1 even
        // without `concurrency`).
        let slots = EnvironmentLock.names(environment: name, slots: prepared.environment.concurrency ?? 1)
        let holder = LockRow(name: slots[0], runID: runID, job: "rollback", actor: request.actor, acquiredAt: StateTime.string(Date()))
        do {
            if case .held(let by) = try await store.tryLock(slots, holder: holder) {
                return outcome(false, "\(name) is being deployed by run \(by.runID) (\(by.job), \(by.actor)) since \(by.acquiredAt): wait for it to finish")
            }
        } catch { return outcome(false, "cannot take the deploy lock of \(name): \(error)") }
        let result = await runHoldingTheLock(prepared, observer: observer, cancellation: cancellation, runID: runID, runDirectory: runDirectory)
        try? await store.unlock(slots, runID: runID, job: "rollback")
        return result
    }

    /// The rollback itself, once its lock is held (the caller releases it).
    private func runHoldingTheLock(
        _ prepared: Prepared, observer: any RunObserver, cancellation: CancellationToken, runID: String, runDirectory: RunDirectory
    ) async -> Outcome {
        let name = request.environment
        let store = setting.store
        let release = "\(name)-rollback-\(runID)"
        func outcome(_ ok: Bool, _ message: String) -> Outcome {
            Outcome(release: release, succeeded: ok, message: message, runDirectory: runDirectory.root)
        }
        // What was decided before the lock must still hold.
        let live = await (try? LiveRelease.of(environment: name, in: store))?.release?.release
        guard live == prepared.current?.release else {
            return outcome(
                false, "\(name) changed while the rollback waited (now \(live ?? "nothing") is live): check `shipgate history --env \(name)` and ask again")
        }
        // The trusted commit's files: the steps' scripts come from there too.
        guard let commit = setting.policy.trustedCommit else { return outcome(false, "no trusted commit to run the rollback steps from") }
        let checkout: IsolatedWorktree
        do {
            checkout = try IsolatedWorktree.create(
                forRepositoryContaining: setting.workspace, commit: commit, branch: Self.branchName(setting.policy.trustedRef))
        } catch { return outcome(false, "cannot check out the trusted commit \(commit.prefix(12)) for the rollback steps: \(error)") }
        defer { checkout.remove() }

        let current = prepared.current?.release ?? ""
        let facts = [
            "from": current, "to": prepared.target.release, "automatic": "false", "release": release, "reason": request.reason,
            "approver": request.approver ?? "", "signature": request.signature ?? "", "via": request.via, "steps": prepared.source,
        ]
        do { try await store.audit(kind: "rollback-started", actor: request.actor, environment: name, runID: runID, detail: facts) } catch {
            return outcome(false, "cannot append to the audit log in \(store.location): nothing rolls back without an audit trail")
        }
        do {
            try await store.saveDeployment(
                DeploymentRow(
                    release: release, environment: name, runID: runID, job: prepared.job.id, version: prepared.target.version,
                    commitID: prepared.target.commitID, artifacts: prepared.target.artifacts, files: prepared.target.files,
                    status: ReleaseStatus.rollingBack.rawValue, approvedBy: request.approver ?? "", actor: request.actor,
                    rollbackOf: prepared.target.release, startedAt: StateTime.string(Date()), policy: setting.policy.identity))
        } catch { return outcome(false, "cannot record the rollback release: \(error)") }

        var env: [String: String] = [
            "SHIPGATE_ENVIRONMENT": name, "SHIPGATE_RELEASE": release, "SHIPGATE_PREVIOUS_RELEASE": current,
        ]
        let target = RollbackTarget(release: prepared.target.release, version: prepared.target.version, commit: prepared.target.commitID)
        env.merge(target.variables) { _, new in new }
        let artifacts = runDirectory.root + "/rollback-artifacts"
        try? FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        if await DeployController.restore(prepared.target, files: setting.files, remote: setting.remote, into: artifacts) {
            env["SHIPGATE_ROLLBACK_ARTIFACTS"] = artifacts
        } else {
            observer.handle(
                .notice(
                    job: nil, level: .warning,
                    message: "the artifacts of \(prepared.target.release) are not in the cache; SHIPGATE_ROLLBACK_ARTIFACTS is not set"))
        }

        let secrets: [String: String]
        switch await environmentSecrets(prepared.environment, workspace: checkout.root, cancellation: cancellation) {
        case .success(let values): secrets = values
        case .failure(let failure):
            return await finish(prepared, release: release, runID: runID, ok: false, detail: failure.description, outcome: outcome)
        }
        var options = RunOptions(
            runID: runID, workspace: checkout.root, runDirectory: runDirectory, parallelism: 1,
            baseEnvironment: setting.stepEnvironment.merging(env) { _, new in new }, secrets: secrets)
        options.contextEnvironment = setting.context.environment
        let plan = ExecutionPlan(pipeline: prepared.pipeline, waves: [[prepared.job.id]], jobs: [prepared.job], secrets: [])
        let result = await Executor(plan: plan, options: options, runner: setting.runner, observer: observer, cancellation: cancellation).run()
        let ok = result.status == .success
        return await finish(
            prepared, release: release, runID: runID, ok: ok,
            detail: ok
                ? "manual rollback to \(prepared.target.release)\(request.reason.isEmpty ? "" : ": \(request.reason)")"
                : (result.jobs.first?.reason ?? "the rollback steps failed"),
            outcome: outcome)
    }

    /// Records and audits how the rollback ended.
    private func finish(
        _ prepared: Prepared, release: String, runID: String, ok: Bool, detail: String, outcome: (Bool, String) -> Outcome
    ) async -> Outcome {
        let store = setting.store
        let name = request.environment
        var problems: [String] = []
        do {
            try await store.updateDeployment(
                release, status: (ok ? ReleaseStatus.success : .rollbackFailed).rawValue, detail: detail, finished: true, at: Date())
            if ok, let current = prepared.current {
                try await store.updateDeployment(
                    current.release, status: ReleaseStatus.rolledBack.rawValue,
                    detail: "rolled back by hand to \(prepared.target.release) by \(request.actor)", finished: true, at: Date())
            }
        } catch { problems.append("the release record could not be updated: \(error)") }
        do {
            try await store.audit(
                kind: ok ? "rollback" : "rollback-failed", actor: request.actor, environment: name, runID: runID,
                detail: [
                    "from": prepared.current?.release ?? "", "to": prepared.target.release, "automatic": "false", "release": release,
                    "reason": request.reason, "approver": request.approver ?? "", "via": request.via,
                ])
        } catch { problems.append("the audit log could not be written: \(error)") }
        if !problems.isEmpty {
            return outcome(false, "rollback of \(name) to \(prepared.target.release) \(ok ? "ran" : "FAILED"), but \(problems.joined(separator: "; "))")
        }
        return ok
            ? outcome(true, "\(name) is back at \(prepared.target.release) (new release \(release))")
            : outcome(false, "rollback of \(name) to \(prepared.target.release) FAILED: \(detail); manual action is needed")
    }

    /// The environment's secrets for the rollback steps: plain ones from `secretValues`, command
    /// ones fetched now that the rollback is authorized.
    private func environmentSecrets(
        _ env: EnvironmentPolicy, workspace: String, cancellation: CancellationToken
    ) async -> Result<[String: String], SecretFetcher.Failure> {
        var values: [String: String] = [:]
        for secret in env.secrets where env.secretCommands[secret.value] == nil {
            guard let value = setting.secretValues[secret.value] else {
                return .failure(.init(description: "secret \(secret.value) of environment \(env.name) is not set; export it or pass --secrets-file"))
            }
            values[secret.value] = value
        }
        let fetcher = SecretFetcher(runner: setting.runner, environment: setting.stepEnvironment, workingDirectory: workspace)
        for (name, command) in env.secretCommands.sorted(by: { $0.key < $1.key }) {
            do { values[name] = try await fetcher.fetch(name, command: command.value, others: values, cancellation: cancellation) } catch let f
                as SecretFetcher.Failure
            { return .failure(f) } catch { return .failure(.init(description: "secret \(name): \(error)")) }
        }
        return .success(values)
    }

    /// The branch a checkout of the trusted ref is on (`main` for `origin/main`, `refs/heads/main`).
    public static func branchName(_ ref: String?) -> String? {
        guard var name = ref else { return nil }
        for prefix in ["refs/heads/", "refs/remotes/origin/", "origin/"] where name.hasPrefix(prefix) { name.removeFirst(prefix.count) }
        return name.hasPrefix("refs/") || name.isEmpty ? nil : name
    }
}
