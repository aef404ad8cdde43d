import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateGate
import ShipgateGit
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess
import ShipgateState

/// Guards the environments of one run: evaluates gates against the trusted policy, waits for
/// approvals (`--wait`) and for the environment lock, opens and closes releases, and writes
/// every decision to the audit log. The engine calls it through `DeploymentHooks`.
public final class DeployController: DeploymentHooks, @unchecked Sendable {
    public func probe(_ check: HTTPCheck, url: String, cancellation: CancellationToken, deadline: ContinuousClock.Instant) async -> ProbeOutcome {
        let outcome = await HTTPProbe.run(check, url: url, cancellation: cancellation, deadline: deadline)
        return ProbeOutcome(passed: outcome.passed, summary: outcome.summary)
    }

    public struct Settings: Sendable {
        public var runID: String
        public var actor: String
        public var pipelineDigest: String
        public var context: RunContext
        /// Expanded job id → declared id (for `requires`).
        public var declaredJobs: [String: String]
        public var breakGlass: String?
        /// Keep evaluating a blocked gate this long (`--wait`); nil: block at once.
        public var wait: TimeSpan?
        public var lockTimeout: TimeSpan
        /// Values of every environment's secrets that are set, by name.
        public var environmentSecrets: [String: String]
        /// Injectable clock for window, freeze and expiry checks.
        public var now: @Sendable () -> Date
        public var pollInterval: TimeSpan = .seconds(2)
        /// Statements given with `--approval` in this invocation.
        public var imported: [ApprovalStatement] = []
        /// Runs secret-manager commands once a gate passed; nil: such secrets cannot be fetched.
        public var secretFetcher: SecretFetcher?
        /// Told every fetched value before any step can print it (GitHub's `::add-mask::`).
        public var onSecretsFetched: @Sendable ([String]) -> Void = { _ in }

        public init(
            runID: String, actor: String, pipelineDigest: String, context: RunContext, declaredJobs: [String: String], breakGlass: String?,
            wait: TimeSpan?, lockTimeout: TimeSpan, environmentSecrets: [String: String], now: @escaping @Sendable () -> Date
        ) {
            self.runID = runID
            self.actor = actor
            self.pipelineDigest = pipelineDigest
            self.context = context
            self.declaredJobs = declaredJobs
            self.breakGlass = breakGlass
            self.wait = wait
            self.lockTimeout = lockTimeout
            self.environmentSecrets = environmentSecrets
            self.now = now
        }
    }

    let store: any StateStore
    let policy: TrustedPolicy
    let settings: Settings
    let files: FileSet?
    let remote: RemoteCache?
    let observer: any RunObserver
    let cancellation: CancellationToken
    private let lock = NSLock()
    private var lockNames: [String: [String]] = [:]
    /// Release → why an entry of its deploy (verify) could not be audited; `finish` fails the job with it.
    private var unaudited: [String: String] = [:]

    public init(
        store: any StateStore, policy: TrustedPolicy, settings: Settings, files: FileSet?, remote: RemoteCache? = nil, observer: any RunObserver,
        cancellation: CancellationToken
    ) {
        self.remote = remote
        self.store = store
        self.policy = policy
        self.settings = settings
        self.files = files
        self.observer = observer
        self.cancellation = cancellation
    }

    // MARK: - Gate

    /// The request a deploy job makes: what approvals must name.
    public func request(for job: PlannedJob, results: [String: JobResult]) -> DeployRequest {
        var artifacts: [String: String] = [:]
        for need in job.needs {
            if let d = results[need]?.artifactsDigest { artifacts[need] = d }
            // The outputs a deploy reads (`${{ needs.JOB.outputs.KEY }}`, an image digest) are
            // bound like artifacts, under `outputs:JOB`, so a new run of the same commit cannot
            // hand it other values under the same approvals.
            if let outputs = results[need]?.outputs, !outputs.isEmpty { artifacts[Self.outputsKey(need)] = Digest.sha256(Self.json(outputs)) }
        }
        return DeployRequest(
            runID: settings.runID, pipelineDigest: settings.pipelineDigest, environment: job.deploy?.environment ?? "",
            commit: settings.context.git?.commit, artifacts: artifacts, actor: settings.actor)
    }

    /// Evaluates the gate of `environment` now, from the state store's approvals.
    public func decide(environment name: String, request: DeployRequest, results: [String: JobResult]) async -> GateDecision {
        guard let env = policy.environments[name] else {
            return GateDecision(
                environment: name, passed: false, rules: [.init(rule: "policy", passed: false, detail: "environment `\(name)` is not defined")],
                approvedBy: [], refused: [], breakGlass: nil, approvalsMissing: 0, canApprove: [])
        }
        var statuses: [String: [String]] = [:]
        for (id, r) in results {
            // A need that ran elsewhere without a published result is not known to have succeeded.
            statuses[settings.declaredJobs[id] ?? id, default: []].append(
                r.unconfirmed == true ? "unconfirmed (--no-deps without SHIPGATE_NEEDS)" : r.status.rawValue)
        }
        let statements = await ApprovalRecords.statements(
            store: store, runID: settings.runID, environment: name, commit: request.commit, imported: settings.imported)
        let facts = await GateFacts(
            request: request, branch: settings.context.git?.branch, tags: settings.context.git?.tags ?? [], hasGit: settings.context.git != nil,
            jobStatuses: statuses, promotedRelease: Self.promotedRelease(store: store, env: env, request: request), approvals: statements,
            keyring: policy.keyring, now: settings.now(), breakGlass: settings.breakGlass)
        return Self.evaluate(env, facts: facts, policy: policy)
    }

    /// For `promote-from`: a good release in that environment with this commit and artifacts.
    static func promotedRelease(store: any StateStore, env: EnvironmentPolicy, request: DeployRequest) async -> String? {
        guard let from = env.promoteFrom?.value, let commit = request.commit else { return nil }
        let wanted = json(request.artifacts)
        return await (try? store.deployments(environment: from, status: "success", commitID: commit, limit: 100))?.first {
            $0.countsAsTarget && $0.artifacts == wanted
        }?.release
    }

    /// The gate's decision, failed when the trusted policy could not be read.
    static func evaluate(_ env: EnvironmentPolicy, facts: GateFacts, policy: TrustedPolicy) -> GateDecision {
        var decision = GateEvaluator.evaluate(env, facts: facts)
        if let problem = policy.failure(for: facts.request.environment) {
            decision.rules.insert(.init(rule: "trusted-policy", passed: false, detail: problem), at: 0)
            decision.passed = false
        }
        return decision
    }

    public func admit(_ job: PlannedJob, results: [String: JobResult], artifacts: [FileEntry]) async -> DeployAdmission {
        guard let name = job.deploy?.environment else { return .failed(reason: "not a deploy job") }
        let req = request(for: job, results: results)
        let env = policy.environments[name]
        let clock = ContinuousClock()
        let waitUntil = settings.wait.map { clock.now.advanced(by: $0.duration) }
        var decision = await decide(environment: name, request: req, results: results)
        var announced = false
        while !decision.passed, let waitUntil, clock.now < waitUntil, !cancellation.isCancelled {
            if !announced {
                // Recorded now, so `approvals` lists it and `approve` knows what to sign.
                await record(job: job.id, request: req, decision: decision)
                notice(job.id, .warning, "gate of \(name) blocked; waiting up to \(settings.wait!) for it to pass:\n" + Self.describe(decision))
                announced = true
            }
            if await !cancellation.sleep(settings.pollInterval.duration) { break }
            decision = await decide(environment: name, request: req, results: results)
        }
        // A deploy whose gate decision cannot be recorded and audited does not start.
        guard await record(job: job.id, request: req, decision: decision) else {
            return .failed(reason: "cannot record the gate decision of \(name) in \(store.location): nothing deploys without an audit trail")
        }
        guard decision.passed else {
            return .blocked(reason: "gate of \(name) blocked:\n" + Self.describe(decision) + "\n" + hints(decision, job: job))
        }
        if env?.isProtected == true {
            notice(
                job.id, .info, "gate of \(name) passed" + (decision.approvedBy.isEmpty ? "" : " (approved by \(decision.approvedBy.joined(separator: ", ")))"))
        }
        if let reason = decision.breakGlass,
            await !audit("break-glass", environment: name, ["job": job.id, "reason": reason, "approvedBy": decision.approvedBy.joined(separator: ",")])
        {
            return .failed(
                reason: "cannot append the break-glass override of \(name) to the audit log in \(store.location): nothing deploys without an audit trail")
        }
        // The environment's secrets, now that its gate passed; an environment the trusted ref
        // does not know yet gets none (a branch could otherwise claim another's secret).
        var secrets: [String: String] = [:]
        if policy.untrusted.contains(name), policy.source != "working tree", let declared = env?.secrets, !declared.isEmpty {
            return .failed(
                reason:
                    "environment \(name) is not in the trusted policy (\(policy.source)), so its secrets (\(declared.map(\.value).joined(separator: ", "))) are withheld until it is merged there"
            )
        }
        for s in env?.secrets ?? [] where env?.secretCommands[s.value] == nil {
            guard let value = settings.environmentSecrets[s.value] else {
                return .failed(reason: "secret \(s.value) of environment \(name) is not set; export it or pass --secrets-file before deploying")
            }
            secrets[s.value] = value
        }
        // One deploy at a time (or `concurrency` at a time).
        var names: [String] = []
        if let slots = env?.concurrency {
            names = EnvironmentLock.names(environment: name, slots: slots)
            if let failure = await takeLock(names, job: job.id, environment: name) { return .failed(reason: failure) }
            // Waiting for the lock takes time: a rejection, an expiry or a closing window in
            // between must still stop this deploy.
            let again = await decide(environment: name, request: req, results: results)
            if !again.passed {
                try? await store.unlock(names, runID: settings.runID, job: job.id)
                await record(job: job.id, request: req, decision: again)
                return .blocked(reason: "gate of \(name) blocked after waiting for the deploy lock:\n" + Self.describe(again) + "\n" + hints(again, job: job))
            }
        }
        // Secrets from a secret manager exist only from here on: the gate passed, the lock is held.
        if let commands = env?.secretCommands, !commands.isEmpty {
            switch await fetchSecrets(commands, environment: name, others: secrets) {
            case .success(let fetched): secrets.merge(fetched) { _, new in new }
            case .failure(let failure):
                try? await store.unlock(names, runID: settings.runID, job: job.id)
                return .failed(reason: failure.description)
            }
        }
        lock.withLock { lockNames[job.id] = names }
        await share(artifacts, job: job.id)
        return await openRelease(job: job, environment: name, request: req, decision: decision, artifacts: artifacts, secrets: secrets)
    }

    private func fetchSecrets(
        _ commands: [String: Located<String>], environment name: String, others: [String: String]
    ) async -> Result<[String: String], SecretFetcher.Failure> {
        guard let fetcher = settings.secretFetcher else {
            return .failure(.init(description: "environment \(name) fetches secrets with commands, which this command cannot run"))
        }
        var fetched: [String: String] = [:]
        for (secret, command) in commands.sorted(by: { $0.key < $1.key }) {
            do {
                fetched[secret] = try await fetcher.fetch(secret, command: command.value, others: others, cancellation: cancellation)
            } catch let failure as SecretFetcher.Failure {
                return .failure(.init(description: "\(failure.description); nothing was deployed to \(name)"))
            } catch {
                return .failure(.init(description: "secret \(secret): \(error)"))
            }
        }
        settings.onSecretsFetched(Array(fetched.values))
        return .success(fetched)
    }

    private func openRelease(
        job: PlannedJob, environment name: String, request req: DeployRequest, decision: GateDecision, artifacts: [FileEntry], secrets: [String: String]
    ) async -> DeployAdmission {
        // The last good release of this same job (and matrix variant) in the environment.
        // Only releases made under the trusted policy count: an ungated release of an environment
        // the trusted ref does not know can never become what a rollback returns to.
        let previous = await (try? store.deployments(environment: name, limit: 1000))?.first { $0.countsAsTarget && $0.job == job.id }
        let release = Self.newReleaseID(environment: name, now: Date())
        let git = settings.context.git
        let row = DeploymentRow(
            release: release, environment: name, runID: settings.runID, job: job.id, version: git?.version, commitID: git?.commit,
            artifacts: Self.json(req.artifacts), files: Self.encodeFiles(artifacts), status: "deploying",
            approvedBy: decision.approvedBy.joined(separator: ","), actor: settings.actor, startedAt: StateTime.string(Date()),
            policy: policy.isTrusted(name) ? policy.identity : nil)
        do { try await store.saveDeployment(row) } catch {
            await releaseLock(job.id)
            return .failed(reason: "cannot record the release: \(error)")
        }
        guard
            await audit(
                "deploy-started", environment: name,
                ["release": release, "job": job.id, "commit": git?.commit ?? "", "version": git?.version ?? "", "approvedBy": row.approvedBy])
        else {
            try? await store.updateDeployment(release, status: "failed", detail: "the audit log could not be written", finished: true)
            await releaseLock(job.id)
            return .failed(reason: "cannot append to the audit log in \(store.location): nothing deploys without an audit trail")
        }
        var vars = [
            "SHIPGATE_ENVIRONMENT": name, "SHIPGATE_RELEASE": release, "SHIPGATE_VERSION": git?.version ?? "", "SHIPGATE_COMMIT": git?.commit ?? "",
            "SHIPGATE_PREVIOUS_RELEASE": previous?.release ?? "", "SHIPGATE_PREVIOUS_VERSION": previous?.version ?? "",
            "SHIPGATE_PREVIOUS_COMMIT": previous?.commitID ?? "",
        ]
        vars["SHIPGATE_APPROVED_BY"] = row.approvedBy
        let target = previous.map { RollbackTarget(release: $0.release, version: $0.version, commit: $0.commitID) }
        notice(job.id, .info, "release \(release) to \(name)" + (previous.map { " (previous good release: \($0.release))" } ?? " (first release there)"))
        var ticket = DeployTicket(release: release, environment: name, variables: vars, secrets: secrets, rollbackTarget: target)
        ticket.job = job.id
        return .admitted(ticket)
    }

    private func takeLock(_ names: [String], job: String, environment: String) async -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: settings.lockTimeout.duration)
        var told = false
        while true {
            let holder = LockRow(name: names[0], runID: settings.runID, job: job, actor: settings.actor, acquiredAt: StateTime.string(Date()))
            do {
                switch try await store.tryLock(names, holder: holder) {
                case .acquired(let stale):
                    if let stale {
                        notice(job, .warning, "released the \(environment) deploy lock of run \(stale.runID) (pid \(stale.pid) is gone)")
                        await audit(
                            "lock-released", environment: environment,
                            ["heldBy": stale.runID, "pid": String(stale.pid), "reason": "holder process is gone or its lease ran out"])
                    }
                    return nil
                case .held(let by):
                    if clock.now >= deadline {
                        return
                            "timed out after \(settings.lockTimeout) waiting for the \(environment) deploy lock, held by run \(by.runID) (\(by.job), \(by.actor), pid \(by.pid) on \(by.host)) since \(by.acquiredAt)"
                    }
                    if !told {
                        notice(
                            job, .warning,
                            "waiting for the \(environment) deploy lock, held by run \(by.runID) (\(by.job), \(by.actor)) since \(by.acquiredAt); gives up after \(settings.lockTimeout) (--lock-timeout)"
                        )
                        told = true
                    }
                }
            } catch {
                return "cannot take the \(environment) deploy lock: \(error)"
            }
            if await !cancellation.sleep(.milliseconds(250)) { return "cancelled while waiting for the \(environment) deploy lock" }
        }
    }

    private func releaseLock(_ job: String) async {
        let names = lock.withLock { lockNames.removeValue(forKey: job) } ?? []
        if !names.isEmpty { try? await store.unlock(names, runID: settings.runID, job: job) }
    }

    // MARK: - After the deploy

    public func phase(_ ticket: DeployTicket, _ phase: String) async {
        try? await store.updateDeployment(ticket.release, status: phase, detail: nil, finished: false)
    }

    public func verified(_ ticket: DeployTicket, passed: Bool, detail: String) async {
        let facts = ["release": ticket.release, "result": passed ? "passed" : "failed", "detail": detail]
        if let problem = await auditProblem("verify", environment: ticket.environment, facts) {
            lock.withLock { unaudited[ticket.release] = unaudited[ticket.release] ?? problem }
        }
    }

    /// Records the release's outcome and appends `deploy` (and `rollback` / `rollback-failed`)
    /// to the audit log, then releases the lock. Contract: returns a message (the job fails with
    /// it) when the release record or any audit entry of this deploy could not be written.
    public func finish(_ ticket: DeployTicket, outcome: DeployOutcome) async -> String? {
        let problem = await record(ticket, outcome: outcome)
        await releaseLock(ticket.job)
        return problem
    }

    private func record(_ ticket: DeployTicket, outcome: DeployOutcome) async -> String? {
        let detail: String?
        switch outcome {
        case .success: detail = nil
        case .failed(let r), .rolledBack(let r), .rollbackFailed(let r): detail = r
        }
        var problems: [String] = []
        if let earlier = lock.withLock({ unaudited.removeValue(forKey: ticket.release) }) { problems.append(earlier) }
        do { try await store.updateDeployment(ticket.release, status: outcome.status, detail: detail, finished: true) } catch {
            problems.append("the release record: \(error)")
        }
        var facts = ["release": ticket.release, "status": outcome.status]
        if let detail { facts["detail"] = detail }
        if let problem = await auditProblem("deploy", environment: ticket.environment, facts) { problems.append(problem) }
        let target = ticket.rollbackTarget?.release ?? ""
        switch outcome {
        case .rolledBack:
            if let p = await auditProblem("rollback", environment: ticket.environment, ["from": ticket.release, "to": target, "automatic": "true"]) {
                problems.append(p)
            }
        case .rollbackFailed:
            if let p = await auditProblem("rollback-failed", environment: ticket.environment, ["from": ticket.release, "to": target]) { problems.append(p) }
        default: break
        }
        guard !problems.isEmpty else { return nil }
        // Whatever happened, a release whose outcome is not in the audit log never counts as
        // good (no rollback or promote-from target); it stays live, needing a person.
        if outcome == .success {
            try? await store.updateDeployment(
                ticket.release, status: ReleaseStatus.unaudited.rawValue, detail: "\(outcome.status), but not in the audit log", finished: true)
        }
        return
            "the outcome of release \(ticket.release) (\(outcome.status)) could not be written to the audit log in \(store.location) (\(problems.joined(separator: "; "))): "
            + "\(ticket.environment) is now in that state, but the audit log does not say so. Make the state store writable, check what runs in \(ticket.environment), "
            + "and run `shipgate audit verify` and `shipgate history --env \(ticket.environment)` before deploying again"
    }

    public func restoreRollbackArtifacts(_ ticket: DeployTicket, into directory: String) async -> Bool {
        guard let target = ticket.rollbackTarget?.release, let row = try? await store.deployment(target) else { return false }
        return await Self.restore(row, files: files, remote: remote, into: directory)
    }

    /// Places a release's retained artifacts into `directory`. Blobs missing here (the release
    /// was deployed from another runner) are fetched from the remote cache and verified.
    public static func restore(_ release: DeploymentRow, files: FileSet?, remote: RemoteCache?, into directory: String) async -> Bool {
        guard let files, let entries = decodeFiles(release.files), !entries.isEmpty else { return false }
        if let remote, await remote.fetchBlobs(entries.filter { $0.kind == .file }.map(\.digest), into: files.cache) != nil { return false }
        return (try? files.restore(entries, into: directory)) != nil
    }

    /// Copies a release's artifact blobs to the remote cache, so any runner can roll back to it.
    private func share(_ artifacts: [FileEntry], job: String) async {
        guard let remote, let files else { return }
        let sent = await remote.sendBlobs(artifacts.filter { $0.kind == .file }.map(\.digest), from: files.cache).sent
        if sent > 0 {
            notice(job, .info, "kept \(sent) artifact blob\(sent == 1 ? "" : "s") of this release in the remote cache for rollbacks from any runner")
        }
    }

    // MARK: - Records

    /// Saves the gate row and appends the audit entry; false when either failed.
    @discardableResult
    private func record(job: String, request: DeployRequest, decision: GateDecision) async -> Bool {
        let now = StateTime.string(Date())
        let row = GateRow(
            runID: settings.runID, job: job, environment: request.environment, commitID: request.commit, pipelineDigest: request.pipelineDigest,
            artifacts: Self.json(request.artifacts), status: decision.passed ? "passed" : "blocked", decision: Self.encode(decision),
            requestedBy: settings.actor, requestedAt: now, updatedAt: now)
        let saved = await (try? store.saveGate(row)) != nil
        var facts = [
            "job": job, "decision": decision.passed ? "passed" : "blocked", "commit": request.commit ?? "", "policy": policy.identity ?? policy.source,
        ]
        if !policy.isTrusted(request.environment) { facts["trusted"] = "false" }
        facts["rules"] = decision.rules.map { "\($0.passed ? "ok" : "FAIL") \($0.rule): \($0.detail)" }.joined(separator: "\n")
        if !decision.refused.isEmpty { facts["refused"] = decision.refused.map { "\($0.summary): \($0.reason)" }.joined(separator: "\n") }
        return await audit("gate", environment: request.environment, facts) && saved
    }

    @discardableResult
    func audit(_ kind: String, environment: String?, _ detail: [String: String]) async -> Bool {
        await auditProblem(kind, environment: environment, detail) == nil
    }

    /// Appends an entry; nil when written, else what failed (also reported as a warning).
    func auditProblem(_ kind: String, environment: String?, _ detail: [String: String]) async -> String? {
        do {
            try await store.audit(kind: kind, actor: settings.actor, environment: environment, runID: settings.runID, detail: detail)
            return nil
        } catch {
            notice(nil, .warning, "cannot append to the audit log: \(error)")
            return "`\(kind)` entry: \(error)"
        }
    }

    private func notice(_ job: String?, _ level: NoticeLevel, _ message: String) {
        observer.handle(.notice(job: job, level: level, message: message))
    }

    /// Every rule with ✓/✗, then each approval that did not count and why.
    public static func describe(_ d: GateDecision) -> String {
        var lines = d.rules.map { "  \($0.passed ? "✓" : "✗") \($0.rule): \($0.detail)" }
        for r in d.refused { lines.append("  ✗ \(r.summary) not counted: \(r.reason)") }
        return lines.joined(separator: "\n")
    }

    /// What to do next, as commands.
    func hints(_ d: GateDecision, job: PlannedJob) -> String {
        var out: [String] = []
        let env = d.environment
        for rule in d.failures {
            switch rule.rule {
            case "approvals":
                let who = d.canApprove.isEmpty ? "" : " (\(d.canApprove.joined(separator: ", ")) can approve)"
                out.append(
                    "  → \(d.approvalsMissing) more approval\(d.approvalsMissing == 1 ? "" : "s") needed\(who): shipgate approve \(settings.runID) --env \(env) --key KEYFILE"
                )
            case "window", "freeze":
                out.append(
                    "  → wait for the window, or override: shipgate resume \(settings.runID) --break-glass \"REASON\" (needs one more approval, marked --break-glass)"
                )
            case "promote-from":
                out.append("  → deploy and verify this commit in \(policy.environments[env]?.promoteFrom?.value ?? "the earlier environment") first")
            case "branch":
                out.append("  → deploy from an allowed branch or tag (see `environments.\(env)`)")
            case "requires":
                out.append("  → make the required jobs succeed in this run")
            default: break
            }
        }
        out.append("  → then: shipgate resume \(settings.runID)")
        return out.joined(separator: "\n")
    }

    static func newReleaseID(environment: String, now: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "\(environment)-\(f.string(from: now))-\(String(format: "%04x", UInt16.random(in: 0...UInt16.max)))"
    }

    public static func json(_ map: [String: String]) -> String { StateText.canonicalJSON(map) }

    /// The key of a needed job's outputs digest in a request's `artifacts`.
    public static func outputsKey(_ job: String) -> String { "outputs:" + job }

    static func encode<T: Encodable>(_ value: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? e.encode(value)) ?? Data(), as: UTF8.self)
    }

    static func encodeFiles(_ files: [FileEntry]) -> String { encode(files) }

    public static func decodeFiles(_ text: String) -> [FileEntry]? { try? JSONDecoder().decode([FileEntry].self, from: Data(text.utf8)) }
}
