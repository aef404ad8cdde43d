/// A job as declared in the file, before matrix expansion.
public struct JobDefinition: Hashable, Sendable, Codable {
    public var id: String
    public var location: SourceLocation
    public var stage: String?
    /// Explicit edges; nil means "every job of earlier stages", `[]` means "start at once".
    public var needs: [Located<String>]?
    /// Ordering only (`after:`): start once these jobs have ended, whatever their result; they
    /// are not dependencies (no key, artifacts, outputs or skips flow along these edges).
    public var after: [Located<String>] = []
    public var matrix: Matrix?
    public var env: [EnvVar]
    public var timeout: TimeSpan?
    /// `idle-timeout:`: an attempt ends when a step prints nothing for this long; nil:
    /// `defaults.idle-timeout`.
    public var idleTimeout: TimeSpan?
    public var retry: RetryPolicy?
    public var continueOnError: Bool
    public var shell: Shell?
    public var workingDirectory: Template?
    public var steps: [Step]
    /// Content-addressed job cache: set when the job declares `inputs`.
    public var cache: CacheSpec?
    /// `outputs:` as written, with or without `inputs`: the files a private workspace sends back
    /// and the jobs needing this one receive in theirs (`cache.outputs` when cached).
    public var outputs: [Located<String>] = []
    /// `junit:` patterns of the JUnit XML reports the job's tools write (pytest's `--junitxml`).
    public var junit: [Located<String>] = []
    /// Dependency caches restored before the steps and saved after (`caches:`).
    public var caches: [DependencyCache]
    /// Files handed to the jobs that need this one (`artifacts:`).
    public var artifacts: ArtifactSpec?
    /// Conditions on the run (`when:`); nil: always.
    public var when: WhenRule?
    /// Set for jobs that deploy (`environment:`), with their `verify` and `rollback`.
    public var deploy: DeploySpec?
    /// `isolation:`; nil: `defaults.isolation`.
    public var isolation: JobIsolation?
    /// `toolchain:`: interpreters to find and put first on `PATH`.
    public var toolchain: [ToolchainRequest] = []
    /// `github:`: what `export github` adds to this job's GitHub job (see `GitHubExportSettings`).
    public var githubExport: GitHubExportSettings?
    /// `resource-group:`: no two jobs of the same group run at once, in this run or another on
    /// the same state directory.
    public var resourceGroup: Located<String>?
    /// Set for a job read from a GitHub Actions workflow: what the engine evaluates at run time.
    public var github: GitHubJob?

    public init(
        id: String, location: SourceLocation, stage: String? = nil, needs: [Located<String>]? = nil,
        matrix: Matrix? = nil, env: [EnvVar] = [], timeout: TimeSpan? = nil, retry: RetryPolicy? = nil,
        continueOnError: Bool = false, shell: Shell? = nil, workingDirectory: Template? = nil, steps: [Step],
        cache: CacheSpec? = nil, caches: [DependencyCache] = [], artifacts: ArtifactSpec? = nil
    ) {
        self.id = id
        self.location = location
        self.stage = stage
        self.needs = needs
        self.matrix = matrix
        self.env = env
        self.timeout = timeout
        self.retry = retry
        self.continueOnError = continueOnError
        self.shell = shell
        self.workingDirectory = workingDirectory
        self.steps = steps
        self.cache = cache
        self.caches = caches
        self.artifacts = artifacts
    }
}

/// What decides whether a job's work can be skipped: the files it reads, the files it makes,
/// and commands whose output joins the key (tool versions).
///
/// Patterns are workspace-relative globs (`**`, `*`, `?`, `[abc]`); a leading `!` excludes.
public struct CacheSpec: Hashable, Sendable, Codable {
    public var inputs: [Located<String>]
    public var outputs: [Located<String>]
    public var keyExtra: [Located<String>]
    /// `inputs: {paths: […], include-ignored: true}`: files git ignores count as inputs too
    /// (by default they do not). Nil: false.
    public var includeIgnored: Bool?

    public init(inputs: [Located<String>], outputs: [Located<String>] = [], keyExtra: [Located<String>] = [], includeIgnored: Bool? = nil) {
        self.inputs = inputs
        self.outputs = outputs
        self.keyExtra = keyExtra
        self.includeIgnored = includeIgnored
    }
}

/// A directory cache in the manner of actions/cache: restored by exact key, else by the newest
/// entry whose key starts with a restore key; saved after success when the exact key missed.
public struct DependencyCache: Hashable, Sendable, Codable {
    public var key: Template
    public var paths: [Located<String>]
    public var restoreKeys: [Template]
    public var location: SourceLocation

    public init(key: Template, paths: [Located<String>], restoreKeys: [Template] = [], location: SourceLocation) {
        self.key = key
        self.paths = paths
        self.restoreKeys = restoreKeys
        self.location = location
    }
}

/// When a job runs: every condition given must hold (they are ANDed).
///
/// - `branches` / `tags`: globs; the run's branch must match one of `branches`, or one of its
///   tags one of `tags` (when both are given, either is enough).
/// - `changes`: globs; at least one path changed since the base must match.
/// - `manual`: the job runs only when named with `--job`.
public struct WhenRule: Hashable, Sendable, Codable {
    public var branches: [Located<String>]?
    public var tags: [Located<String>]?
    public var changes: [Located<String>]?
    public var manual: Bool

    public init(branches: [Located<String>]? = nil, tags: [Located<String>]? = nil, changes: [Located<String>]? = nil, manual: Bool = false) {
        self.branches = branches
        self.tags = tags
        self.changes = changes
        self.manual = manual
    }
}

/// Files a job publishes for the jobs that need it, kept `expire` long.
public struct ArtifactSpec: Hashable, Sendable, Codable {
    public var paths: [Located<String>]
    public var expire: TimeSpan?

    public init(paths: [Located<String>], expire: TimeSpan? = nil) {
        self.paths = paths
        self.expire = expire
    }
}

/// One command of a job, run as its own process group.
public struct Step: Hashable, Sendable, Codable {
    public var name: String?
    public var run: Template
    public var location: SourceLocation
    public var workingDirectory: Template?
    public var env: [EnvVar]
    public var timeout: TimeSpan?
    public var shell: Shell?
    /// `detach: true`: what the step leaves running when it succeeds is kept, not killed at
    /// the end of the attempt or of the run.
    public var detach = false
    /// Set for a step of a GitHub Actions workflow (`run` then holds the script for display).
    public var github: GitHubStep?

    public init(
        name: String? = nil, run: Template, location: SourceLocation, workingDirectory: Template? = nil,
        env: [EnvVar] = [], timeout: TimeSpan? = nil, shell: Shell? = nil
    ) {
        self.name = name
        self.run = run
        self.location = location
        self.workingDirectory = workingDirectory
        self.env = env
        self.timeout = timeout
        self.shell = shell
    }

    /// The name shown to users: the declared one, else the first line of the script, shortened.
    public var displayName: String {
        if let name, !name.isEmpty { return name }
        let firstLine = run.description.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        return firstLine.count > 60 ? String(firstLine.prefix(57)) + "..." : firstLine
    }
}

/// Axes of a matrix job, in declaration order, and the combinations to leave out.
public struct Matrix: Hashable, Sendable, Codable {
    public struct Axis: Hashable, Sendable, Codable {
        public var name: String
        public var values: [String]
        public var location: SourceLocation
        public init(name: String, values: [String], location: SourceLocation) {
            self.name = name
            self.values = values
            self.location = location
        }
    }

    public var axes: [Axis]
    /// Each entry removes every combination that agrees with all of its pairs.
    public var exclude: [[String: String]]
    public var location: SourceLocation
    /// The variants, when the front end expanded them itself (a GitHub matrix, with `include`
    /// rules and typed values); `axes` and `exclude` are then not used.
    public var variants: [[MatrixValue]]?

    public init(axes: [Axis], exclude: [[String: String]] = [], location: SourceLocation) {
        self.axes = axes
        self.exclude = exclude
        self.location = location
    }

    /// Every combination (cartesian product, first axis varying slowest) minus the excluded ones.
    public func combinations() -> [[MatrixValue]] {
        if let variants { return variants }
        var result: [[MatrixValue]] = [[]]
        for axis in axes {
            result = result.flatMap { prefix in axis.values.map { prefix + [MatrixValue(axis: axis.name, value: $0)] } }
        }
        return result.filter { combo in
            !exclude.contains { rule in
                rule.allSatisfy { key, value in combo.contains { $0.axis == key && $0.value == value } }
            }
        }
    }
}

public struct MatrixValue: Hashable, Sendable, Codable {
    public var axis: String
    /// The value as text (what `${{ matrix.AXIS }}` prints and job ids show).
    public var value: String
    /// The value as JSON, when it is not a string (a GitHub matrix's numbers, booleans, objects).
    public var json: String?
    public init(axis: String, value: String, json: String? = nil) {
        self.axis = axis
        self.value = value
        self.json = json
    }
}
