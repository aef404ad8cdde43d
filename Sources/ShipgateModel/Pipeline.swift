/// A validated pipeline: what the YAML file says, with every value typed and located.
///
/// Produced only by the loader; nothing past the loader sees YAML. Jobs keep the order
/// in which the file declares them, which is the tie-breaker for every later ordering.
public struct Pipeline: Hashable, Sendable, Codable {
    public var name: String
    /// Path of the file the pipeline was read from, as given by the user.
    public var file: String
    /// `sha256:<hex>` of the file's bytes; names this exact version of the pipeline.
    public var digest: String
    public var env: [EnvVar]
    public var defaults: Defaults
    /// Stage order: declared by `stages`, else by first appearance in jobs.
    public var stages: [String]
    /// Names of environment variables whose values are secret.
    public var secrets: [Located<String>]
    public var jobs: [JobDefinition]
    /// Deploy targets (`environments:`), in declaration order.
    public var environments: [EnvironmentPolicy] = []
    /// Shipgate's format, or a GitHub workflow (whose jobs carry `JobDefinition.github`).
    public var origin: PipelineOrigin = .shipgate
    /// For a workflow: the events of its `on:` with their filters.
    public var triggers: [WorkflowTrigger] = []

    public init(
        name: String, file: String, digest: String, env: [EnvVar], defaults: Defaults,
        stages: [String], secrets: [Located<String>], jobs: [JobDefinition]
    ) {
        self.name = name
        self.file = file
        self.digest = digest
        self.env = env
        self.defaults = defaults
        self.stages = stages
        self.secrets = secrets
        self.jobs = jobs
    }

    public func job(_ id: String) -> JobDefinition? { jobs.first { $0.id == id } }
    public func environment(_ name: String) -> EnvironmentPolicy? { environments.first { $0.name == name } }
}

/// Settings that apply to every job unless the job says otherwise.
public struct Defaults: Hashable, Sendable, Codable {
    public var timeout: TimeSpan
    /// `defaults.idle-timeout`; nil: no limit on silence.
    public var idleTimeout: TimeSpan?
    public var retry: RetryPolicy
    public var shell: Shell
    public var workingDirectory: Template?
    /// `defaults.isolation`: every job's, unless it says otherwise.
    public var isolation: JobIsolation = .shared
    /// `defaults.github`: every exported job's, under its own `github:`.
    public var github: GitHubExportSettings?

    public static let standard = Defaults(timeout: .minutes(60), retry: .none, shell: .sh, workingDirectory: nil)

    public init(timeout: TimeSpan, retry: RetryPolicy, shell: Shell, workingDirectory: Template?) {
        self.timeout = timeout
        self.retry = retry
        self.shell = shell
        self.workingDirectory = workingDirectory
    }
}

/// A value together with where it was written.
public struct Located<Value: Hashable & Sendable & Codable>: Hashable, Sendable, Codable {
    public var value: Value
    public var location: SourceLocation
    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

/// One `NAME: value` entry of an `env` map.
public struct EnvVar: Hashable, Sendable, Codable {
    public var name: String
    public var value: Template
    public var location: SourceLocation
    public init(name: String, value: Template, location: SourceLocation) {
        self.name = name
        self.value = value
        self.location = location
    }
}

/// How a step's script is started.
public enum Shell: String, Hashable, Sendable, Codable, CaseIterable {
    case sh
    case bash

    /// The argument vector that runs `script`: errexit for both, pipefail for bash.
    public func argv(script: String) -> [String] {
        switch self {
        case .sh: ["/bin/sh", "-e", "-c", script]
        case .bash: ["bash", "-e", "-o", "pipefail", "-c", script]
        }
    }
}

/// Retries of a failed job: `attempts` tries in total, exponential backoff between them.
public struct RetryPolicy: Hashable, Sendable, Codable {
    public var attempts: Int
    public var backoff: TimeSpan
    public var maxBackoff: TimeSpan

    public static let none = RetryPolicy(attempts: 1, backoff: .seconds(1), maxBackoff: .seconds(30))

    public init(attempts: Int, backoff: TimeSpan, maxBackoff: TimeSpan) {
        self.attempts = attempts
        self.backoff = backoff
        self.maxBackoff = maxBackoff
    }

    /// The delay before try `failedAttempt + 1`, before jitter: `backoff * 2^(failedAttempt-1)`, capped.
    public func baseDelay(afterAttempt failedAttempt: Int) -> TimeSpan {
        let exponent = min(max(failedAttempt - 1, 0), 40)
        let (scaled, overflow) = backoff.milliseconds.multipliedReportingOverflow(by: Int64(1) << exponent)
        return TimeSpan(milliseconds: overflow ? maxBackoff.milliseconds : min(scaled, maxBackoff.milliseconds))
    }

    /// "Equal jitter": half the base delay is fixed, half is random, so retries of many jobs spread out
    /// but never come sooner than half the documented delay. `unit` is a random number in [0, 1).
    public func delay(afterAttempt failedAttempt: Int, unit: Double) -> TimeSpan {
        let base = baseDelay(afterAttempt: failedAttempt).milliseconds
        let half = base / 2
        return TimeSpan(milliseconds: half + Int64(Double(base - half) * min(max(unit, 0), 1)))
    }
}
