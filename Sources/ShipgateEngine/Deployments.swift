import Foundation
import ShipgateCache
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

/// What the engine asks of whoever guards environments (the gate, the release record, the
/// lock). The engine runs steps, verify checks and rollback steps; the hooks decide and record.
public protocol DeploymentHooks: Sendable {
    /// A deploy job is ready: evaluate its environment's gate (waiting if so configured) and,
    /// if it passes, take the environment's lock and open a release.
    /// `results` holds every job finished so far; `artifacts` what the job receives.
    func admit(_ job: PlannedJob, results: [String: JobResult], artifacts: [FileEntry]) async -> DeployAdmission
    /// The deploy ended; record it and release the lock. Returns why the outcome could not be
    /// recorded (release record or audit log), nil when it was: the job then fails with it,
    /// since a deploy whose outcome is not in the audit log must not pass as a success.
    func finish(_ ticket: DeployTicket, outcome: DeployOutcome) async -> String?
    /// Places the artifacts of the release to roll back to into `directory`; false if they are gone.
    func restoreRollbackArtifacts(_ ticket: DeployTicket, into directory: String) async -> Bool
    /// Called between phases (`verifying`, `rolling-back`) so the record shows where a deploy stopped.
    func phase(_ ticket: DeployTicket, _ phase: String) async
    /// The verify checks ended: `detail` is what failed, or a summary when all passed.
    func verified(_ ticket: DeployTicket, passed: Bool, detail: String) async
    /// Runs one built-in HTTP check (`verify: - http:`) against `url`, giving up (failing) at
    /// `deadline` or on cancellation. The engine speaks no HTTP: the release module does.
    func probe(_ check: HTTPCheck, url: String, cancellation: CancellationToken, deadline: ContinuousClock.Instant) async -> ProbeOutcome
}

/// The outcome of a verify probe: whether it passed, and one line saying what was measured.
public struct ProbeOutcome: Sendable, Equatable {
    public var passed: Bool
    public var summary: String
    public init(passed: Bool, summary: String) {
        self.passed = passed
        self.summary = summary
    }
}

public enum DeployAdmission: Sendable {
    case admitted(DeployTicket)
    /// The gate said no; the reason lists every failing rule.
    case blocked(reason: String)
    /// Something else stopped it (lock timeout, missing environment secret).
    case failed(reason: String)
}

/// An admitted deploy: its release and what its processes see.
public struct DeployTicket: Sendable {
    public var release: String
    public var environment: String
    /// `SHIPGATE_ENVIRONMENT`, `SHIPGATE_RELEASE`, `SHIPGATE_PREVIOUS_*`, …
    public var variables: [String: String]
    /// The environment's secrets: given to this job only.
    public var secrets: [String: String]
    /// The last good release, for an automatic rollback.
    public var rollbackTarget: RollbackTarget?
    /// The deploy job (its lock is released when the deploy ends).
    public var job: String = ""

    public init(release: String, environment: String, variables: [String: String], secrets: [String: String], rollbackTarget: RollbackTarget?) {
        self.release = release
        self.environment = environment
        self.variables = variables
        self.secrets = secrets
        self.rollbackTarget = rollbackTarget
    }
}

/// The release a rollback returns to.
public struct RollbackTarget: Sendable, Equatable {
    public var release: String
    public var version: String?
    public var commit: String?

    public init(release: String, version: String?, commit: String?) {
        self.release = release
        self.version = version
        self.commit = commit
    }

    /// What rollback steps see: `SHIPGATE_ROLLBACK_RELEASE`, `_VERSION`, `_COMMIT`.
    public var variables: [String: String] {
        ["SHIPGATE_ROLLBACK_RELEASE": release, "SHIPGATE_ROLLBACK_VERSION": version ?? "", "SHIPGATE_ROLLBACK_COMMIT": commit ?? ""]
    }
}

public enum DeployOutcome: Sendable, Equatable {
    case success
    /// Steps or verify failed and nothing was rolled back (no rollback steps, or no earlier release).
    case failed(String)
    case rolledBack(String)
    case rollbackFailed(String)

    public var status: String {
        switch self {
        case .success: "success"
        case .failed: "failed"
        case .rolledBack: "rolled-back"
        case .rollbackFailed: "rollback-failed"
        }
    }
}
