import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateGate
import ShipgateGit
import ShipgateHTTP
import ShipgateJobCache
import ShipgateLoading
import ShipgateModel
import ShipgateProcess
import ShipgateRelease
import ShipgateState

/// The console's own key: it signs approvals on behalf of logged-in users.
public struct ConsoleSigner: Sendable {
    public var key: ApproverKey
    /// The name under `consoles:` in the keyring.
    public var name: String
    public init(key: ApproverKey, name: String) {
        self.key = key
        self.name = name
    }
}

/// Everything the console serves from, and the actions it takes. Pages and API handlers are
/// thin: they call this, which calls the same release code the CLI uses.
public final class Console: @unchecked Sendable {
    public struct Settings: Sendable {
        /// The repository checkout the console runs in.
        public var workspace: String
        /// The pipeline whose environments the console shows (policy read from the trust ref).
        public var pipelinePath: String
        /// The local state directory (run logs, artifact manifests, the cache), when there is one.
        public var stateDirectory: String?
        public var trustRef: String?
        public var keyringPath: String
        /// The remote cache a rollback restores artifacts from (`--remote-cache`).
        public var remoteCache: String?
        /// The environment the console was started with: where rollbacks take secret values
        /// from, and (without secrets and credentials) what their steps start from.
        public var launchEnvironment: [String: String] = [:]
        /// Mark cookies `Secure` (when served behind TLS).
        public var secureCookies: Bool

        public init(
            workspace: String, pipelinePath: String, stateDirectory: String?, trustRef: String?, keyringPath: String, remoteCache: String? = nil,
            secureCookies: Bool = false
        ) {
            self.workspace = workspace
            self.pipelinePath = pipelinePath
            self.stateDirectory = stateDirectory
            self.trustRef = trustRef
            self.keyringPath = keyringPath
            self.remoteCache = remoteCache
            self.secureCookies = secureCookies
        }
    }

    public let store: any StateStore
    public let settings: Settings
    public let users: UserStore
    public let signer: ConsoleSigner?
    public let sessions = SessionStore()
    public let throttle = LoginThrottle()
    public let now: @Sendable () -> Date
    let audit = AuditCheck()
    let rollbacks: RollbackLauncher
    private let lock = NSLock()
    private var policyCache: [String: (at: Date, policy: TrustedPolicy?)] = [:]

    public init(store: any StateStore, settings: Settings, users: UserStore, signer: ConsoleSigner?, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.settings = settings
        self.users = users
        self.signer = signer
        self.now = now
        rollbacks = RollbackLauncher(logDirectory: settings.stateDirectory.map { $0 + "/console/rollbacks" })
    }

    /// The trusted policy for a pipeline file (relative paths are from the workspace), cached
    /// for a few seconds: it is read from git on every gate a page shows.
    public func policy(pipelineFile: String? = nil) -> TrustedPolicy? {
        let path = resolve(pipelineFile ?? settings.pipelinePath)
        let t = now()
        if let hit = lock.withLock({ policyCache[path] }), t.timeIntervalSince(hit.at) < 5 { return hit.policy }
        let loaded = PipelineLoader.load(path: path).pipeline.map {
            TrustedPolicy.load(pipeline: $0, pipelinePath: path, trustRef: settings.trustRef, keyringPath: settings.keyringPath)
        }
        lock.withLock { policyCache[path] = (t, loaded) }
        return loaded
    }

    /// A run's pipeline file here: as recorded, else the same path under this workspace.
    func resolve(_ file: String) -> String {
        if file.hasPrefix("/") {
            if FileManager.default.fileExists(atPath: file) { return file }
            return (settings.workspace as NSString).appendingPathComponent((file as NSString).lastPathComponent)
        }
        return (settings.workspace as NSString).appendingPathComponent(file)
    }

    func pipelineFile(of run: RunRow) -> String { run.pipelineFile(inCheckout: settings.workspace) }

    // MARK: - Actions

    /// Approves or rejects a blocked deploy for a logged-in user: signed by the console's key
    /// on their behalf, with the CLI's rules (`ApprovalSigner`).
    public func decide(
        user: ConsoleUser, runID: String, environment: String, decision: ApprovalStatement.Decision, comment: String?, breakGlass: String? = nil
    ) async throws -> ApprovalStatement {
        guard let signer else {
            throw ReleaseError("this console has no signing key, so it cannot approve", hint: "start it with `shipgate serve --key FILE`")
        }
        guard let run = try await store.findRun(runID) else { throw ReleaseError("no run \(runID)") }
        guard let policy = policy(pipelineFile: pipelineFile(of: run)) else {
            throw ReleaseError("cannot load \(pipelineFile(of: run)), the pipeline of run \(run.id)", hint: "run the console in a checkout of the repository")
        }
        let comment = comment.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        return try await ApprovalSigner(store: store, policy: policy, now: now()).sign(
            decision, run: run, environment: environment, signer: .console(key: signer.key, name: signer.name, approver: user.approver),
            comment: comment, breakGlass: breakGlass)
    }

    /// Work done once at start so the first page is as fast as the rest: the whole audit chain
    /// verified, the trusted policy read.
    public func warmUp() async {
        _ = try? await audit.full(store, now: now())
        _ = policy()
    }

    /// Verifies the whole audit chain now (the console also does so every 30 s in the background).
    @discardableResult
    public func verifyAuditNow() async throws -> AuditVerification { try await audit.full(store, now: now()).verification }

    /// Rollbacks this console started that are still running.
    public var rollbacksActive: Int { rollbacks.active }

    /// Waits for rollbacks this console started.
    public func rollbacksWait() async { await rollbacks.waitAll() }

    /// Whether a user may roll an environment back (`RollbackAuthority`, as for the CLI).
    func mayRollBack(_ user: ConsoleUser, environment: String) -> Bool {
        guard let policy = policy() else { return false }
        return RollbackAuthority.failure(approver: user.approver, environment: environment, policy: policy) == nil
    }

    /// Starts a rollback of an environment (`ManualRollback`, as `shipgate rollback` does) once
    /// it is authorized and its target chosen; throws what stops it before any step runs.
    public func rollBack(user: ConsoleUser, environment: String, to release: String?, reason: String) async throws -> RollbackLauncher.Launched {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw ReleaseError("a rollback needs a reason") }
        var lastRun: RunRow?
        if let good = try await store.lastGood(environment: environment) { lastRun = try await store.run(good.runID) }
        let pipeline = lastRun.map(pipelineFile(of:)) ?? resolve(settings.pipelinePath)
        guard let loaded = PipelineLoader.load(path: pipeline).pipeline, let policy = policy(pipelineFile: pipeline) else {
            throw ReleaseError("cannot load \(pipeline)", hint: "run the console in a checkout of the repository")
        }
        if let failure = RollbackAuthority.failure(approver: user.approver, environment: environment, policy: policy) {
            throw ReleaseError("\(user.name) (approver \(user.approver)) may not roll back \(environment): \(failure)", hint: "only its approvers may")
        }
        let stateDirectory = settings.stateDirectory ?? settings.workspace + "/.shipgate"
        let withheld = SecretPolicy.environmentSecretNames(pipeline: loaded, policy: policy)
        let cache = try? CacheContext(
            stateDirectory: stateDirectory, workspace: settings.workspace, remote: nil, lookups: true, readOnly: true, trackedBlobID: nil)
        let rollback = ManualRollback(
            .init(environment: environment, to: release, actor: user.approver, approver: user.approver, reason: reason, via: "console:\(user.name)"),
            setting: .init(
                store: store, policy: policy, context: RunContext.resolve(workspace: settings.workspace, environment: [:], actor: user.approver),
                workspace: settings.workspace, stateDirectory: stateDirectory, files: cache?.files,
                remote: settings.remoteCache.flatMap { RemoteCache.http($0) }, secretValues: settings.launchEnvironment,
                stepEnvironment: SecretPolicy.stepEnvironment(settings.launchEnvironment, withholding: withheld),
                runner: HostProcessRunner(groups: ProcessGroups())))
        return try await rollbacks.launch(rollback)
    }
}
