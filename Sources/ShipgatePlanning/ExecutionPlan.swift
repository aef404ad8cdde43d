import ShipgateModel

/// What `run` will do, as a value: `plan` prints it, `run` executes it, tests assert on it.
///
/// Jobs are in execution order (topological, ties broken by declaration order); `waves`
/// groups the jobs that may run in parallel once the previous wave is done.
public struct ExecutionPlan: Hashable, Sendable, Codable {
    public var schemaVersion = 1
    public var pipeline: PipelineInfo
    public var waves: [[String]]
    public var jobs: [PlannedJob]
    /// Secret names the run needs; their values never enter the plan.
    public var secrets: [String]

    public struct PipelineInfo: Hashable, Sendable, Codable {
        public var name: String
        public var file: String
        public var digest: String
        public var origin: PipelineOrigin = .shipgate
    }

    public init(pipeline: PipelineInfo, waves: [[String]], jobs: [PlannedJob], secrets: [String]) {
        self.pipeline = pipeline
        self.waves = waves
        self.jobs = jobs
        self.secrets = secrets
    }

    public func job(_ id: String) -> PlannedJob? { jobs.first { $0.id == id } }

    /// Jobs that `run` will execute (a `cached` job is executed by restoring it).
    public var runnable: [PlannedJob] { jobs.filter { $0.status != .skip } }
}

/// One job after matrix expansion, with everything known before running resolved.
public struct PlannedJob: Hashable, Sendable, Codable, Identifiable {
    public enum Status: String, Hashable, Sendable, Codable {
        case run
        case skip
        /// Set by the cache advisor: an entry for this job's key exists.
        case cached
        /// Set by the gate preview: the environment's gate would not let the job start now.
        case blocked
    }

    /// Unique id: the declared id, plus ` (axis=value, …)` for matrix variants.
    public var id: String
    /// The declared job id this one was expanded from.
    public var job: String
    public var stage: String?
    /// Jobs that must have finished and satisfied this one (success, or `continue-on-error`):
    /// explicit `needs`, or every job of earlier stages.
    public var needs: [String]
    /// True when `needs` comes from stage order (no explicit `needs`): those jobs gate this one
    /// and hand it their artifacts, but their cache keys do not join its key.
    public var needsFromStages = false
    /// Ordering only (`after:`): jobs this one starts after, whatever their result.
    public var after: [String] = []
    public var matrix: [MatrixValue]
    public var status: Status
    /// Why the job is skipped; nil when it runs.
    public var reason: String?
    public var timeout: TimeSpan
    /// The longest a step of the job may print nothing (`idle-timeout`); nil: no limit.
    public var idleTimeout: TimeSpan?
    public var retry: RetryPolicy
    public var continueOnError: Bool
    public var steps: [PlannedStep]
    /// The pipeline and job `env` (not the steps'), resolved like a step's: what the job's
    /// `cache-key-extra` commands run with.
    public var env: [PlannedEnv] = []
    public var location: SourceLocation
    /// Job cache settings (`inputs`, `outputs`, `cache-key-extra`); nil: never cached.
    public var cache: CacheSpec?
    /// Dependency caches, keys with matrix and env resolved.
    public var dependencyCaches: [DependencyCache] = []
    public var artifacts: ArtifactSpec?
    /// `outputs:` of the job, cached or not (see `Job.outputs`).
    public var outputs: [String] = []
    /// `junit:` report patterns, read after the job's steps (see `TestSummary`).
    public var junit: [String] = []
    /// The cache key, when the advisor could compute it before running.
    public var cacheKey: String?
    /// Set when the job deploys to an environment.
    public var deploy: PlannedDeploy?
    /// What the environment's gate would decide now (set by `plan` for deploy jobs).
    public var gate: GatePreview?
    /// What the job does not share with the jobs beside it (`isolation`, else the default).
    public var isolation: JobIsolation = .shared
    /// `resource-group:` (matrix values interpolated).
    public var resourceGroup: String?
    /// `toolchain:`, tool → version prefix (matrix values interpolated).
    public var toolchain: [String: String] = [:]
    /// Start only when no other job runs, and start nothing beside it (a deploy that receives
    /// environment secrets: no process of another job can read them from `/proc`).
    public var runsAlone = false
    /// A GitHub workflow job: its conditions, outputs and settings, evaluated by the engine.
    public var github: GitHubJob?
    /// `name:` of a workflow job with its matrix values (`test (3.12)`), for display.
    public var displayName: String?
    /// The variant's index in its job's matrix (`strategy.job-index`).
    public var variantIndex = 0

    public init(
        id: String, job: String, stage: String?, needs: [String], matrix: [MatrixValue], status: Status, reason: String?,
        timeout: TimeSpan, retry: RetryPolicy, continueOnError: Bool, steps: [PlannedStep], location: SourceLocation
    ) {
        self.id = id
        self.job = job
        self.stage = stage
        self.needs = needs
        self.matrix = matrix
        self.status = status
        self.reason = reason
        self.timeout = timeout
        self.retry = retry
        self.continueOnError = continueOnError
        self.steps = steps
        self.location = location
    }

    /// Ids of needed jobs whose outputs this job interpolates.
    public var outputDependencies: Set<String> {
        var set = Set<String>()
        for step in steps {
            for e in step.script.interpolations + step.env.flatMap(\.value.interpolations) + (step.workingDirectory?.interpolations ?? []) {
                if case .needsOutput(let job, _) = e { set.insert(job) }
            }
        }
        return set
    }
}

/// One step of a planned job. `script`, `env` and `workingDirectory` have matrix values and env
/// references resolved; `${{ needs.JOB.outputs.KEY }}` parts stay until the job starts.
public struct PlannedStep: Hashable, Sendable, Codable {
    public var name: String
    public var script: Template
    public var shell: Shell
    /// Relative to the workspace root; nil means the root.
    public var workingDirectory: Template?
    /// The merged pipeline, job and step env, innermost winning, sorted by name.
    public var env: [PlannedEnv]
    public var timeout: TimeSpan?
    /// `detach: true`: processes the step leaves running are kept when it succeeds.
    public var detach = false
    /// A GitHub workflow step, evaluated and run by the engine as GitHub's runner does.
    public var github: GitHubStep?

    public init(name: String, script: Template, shell: Shell, workingDirectory: Template?, env: [PlannedEnv], timeout: TimeSpan?) {
        self.name = name
        self.script = script
        self.shell = shell
        self.workingDirectory = workingDirectory
        self.env = env
        self.timeout = timeout
    }
}

public struct PlannedEnv: Hashable, Sendable, Codable {
    public var name: String
    public var value: Template
    public init(name: String, value: Template) {
        self.name = name
        self.value = value
    }
}

extension Template {
    public var interpolations: [Interpolation] { expressions }
}

/// The deploy part of a planned job: its environment, post-deploy checks and rollback steps.
public struct PlannedDeploy: Hashable, Sendable, Codable {
    public var environment: String
    public var verify: [PlannedCheck]
    public var rollback: [PlannedStep]

    public init(environment: String, verify: [PlannedCheck], rollback: [PlannedStep]) {
        self.environment = environment
        self.verify = verify
        self.rollback = rollback
    }
}

public enum PlannedCheck: Hashable, Sendable, Codable {
    case command(PlannedStep)
    case http(HTTPCheck)

    public var name: String {
        switch self {
        case .command(let s): s.name
        case .http(let h): "http \(h.url.description)"
        }
    }
}

/// A gate decision as `plan` shows it: every rule with its verdict.
public struct GatePreview: Hashable, Sendable, Codable {
    public var environment: String
    public var passed: Bool
    public var rules: [GateRuleVerdict]
    /// Commands that would supply what is missing.
    public var hints: [String]
    /// Set when the working tree's policy differs from the trusted one.
    public var policyNote: String?

    public init(environment: String, passed: Bool, rules: [GateRuleVerdict], hints: [String], policyNote: String? = nil) {
        self.environment = environment
        self.passed = passed
        self.rules = rules
        self.hints = hints
        self.policyNote = policyNote
    }
}
