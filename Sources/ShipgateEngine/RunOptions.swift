import ShipgateModel
import ShipgateProcess

/// Everything the executor needs besides the plan. Built by the CLI, or by tests.
public struct RunOptions: Sendable {
    public var runID: String
    /// Root of the workspace: steps run here unless `working-directory` says otherwise.
    public var workspace: String
    public var runDirectory: RunDirectory
    /// Most jobs running at once (≥ 1).
    public var parallelism: Int
    /// Cancel everything still running after the first failure.
    public var failFast: Bool
    /// Time between SIGTERM and SIGKILL when a step is timed out or cancelled.
    public var killGrace: TimeSpan
    /// The environment steps start from (usually shipgate's own), before pipeline env.
    public var baseEnvironment: [String: String]
    /// Secret values by name: added to every step's environment, masked everywhere.
    public var secrets: [String: String]
    /// `SHIPGATE_COMMIT`, `SHIPGATE_ACTOR`, …: the run context every step sees.
    public var contextEnvironment: [String: String] = [:]
    /// One line about the run context for the reporters (`main @ 1a2b3c4 (v1.4.0), actor ada`).
    public var contextSummary: String?
    /// The values of `${{ git.KEY }}`, recorded in `run.json`.
    public var git: [String: String] = [:]
    /// Only some jobs were selected (`--job`).
    public var partial = false
    /// The run was started with `--no-cache` (recorded in `run.json`, so `resume` keeps it).
    public var noCache = false
    /// Guards deploy jobs; nil: jobs with an environment fail with a message saying so.
    public var deployments: (any DeploymentHooks)?
    /// Values masked in all output besides `secrets` (environment secrets, given to few jobs).
    public var extraMasked: [String] = []
    /// Results of an earlier run of the same id (`resume`): these jobs are not run again.
    public var previousResults: [String: JobResult] = [:]
    /// Results of needed jobs that ran elsewhere (`--no-deps`, e.g. other GitHub jobs): they
    /// count as finished from the start, with their outputs and artifacts.
    public var externalResults: [String: JobResult] = [:]
    /// The state directory the run directory is in (`STATE/runs/ID`).
    var stateDirectory: String { runDirectory.root.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") }
    /// Where `resource-group` locks live (shared by every run on the state directory).
    public var lockDirectory: String { stateDirectory + "/locks" }
    /// Where `toolchain` shim directories live (stable across runs, so keys stay the same).
    public var toolchainDirectory: String { stateDirectory + "/toolchains" }
    /// The shipgate executable, for helpers steps are started through (`__netns`); nil: argv[0].
    public var helperExecutable: String?
    /// Called before a job that `runsAlone` starts (no other job runs then): stops what earlier
    /// jobs left running (detached daemons), so nothing can read what that job receives.
    public var beforeRunningAlone: (@Sendable () -> Void)?
    /// A number in [0, 1) for retry jitter; injectable so tests are deterministic.
    public var random: @Sendable () -> Double
    /// Waits `duration` (a retry's backoff), returning false when `cancellation` came first.
    /// Injectable: tests count the waits instead of sitting through them.
    public var pause: @Sendable (_ duration: Duration, _ cancellation: CancellationToken) async -> Bool = { await $1.sleep($0) }
    /// How often a job waiting for a `resource-group` lock another run holds tries again.
    public var lockPollInterval: Duration = .milliseconds(100)
    /// For a GitHub workflow: the contexts and variables its jobs start from.
    public var workflow: WorkflowRuntime?

    public init(
        runID: String, workspace: String, runDirectory: RunDirectory, parallelism: Int, failFast: Bool = false,
        killGrace: TimeSpan = .seconds(5), baseEnvironment: [String: String], secrets: [String: String] = [:],
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.runID = runID
        self.workspace = workspace
        self.runDirectory = runDirectory
        self.parallelism = max(1, parallelism)
        self.failFast = failFast
        self.killGrace = killGrace
        self.baseEnvironment = baseEnvironment
        self.secrets = secrets
        self.random = random
    }
}
