import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateHTTP
import ShipgateJobCache
import ShipgateLoading
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess
import XCTest

/// Runs pipelines for real in a temporary workspace and records every event.
final class Harness: Sendable {
    let workspace: String
    let state: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-test-\(UUID().uuidString)")
        workspace = base.path
        state = base.appendingPathComponent(".shipgate").path
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
    }

    func cleanUp() {
        // Cache blobs are read-only; make everything removable first.
        if let paths = FileManager.default.subpaths(atPath: workspace) { for p in paths { chmod(workspace + "/" + p, 0o755) } }
        try? FileManager.default.removeItem(atPath: workspace)
    }

    func write(_ path: String, _ text: String) throws {
        let full = workspace + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: false, encoding: .utf8)
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: workspace + "/" + path, encoding: .utf8) }

    func plan(_ yaml: String, jobs: [String] = []) throws -> ExecutionPlan {
        let loaded = PipelineLoader.load(text: yaml, file: workspace + "/pipeline.yml")
        guard let pipeline = loaded.pipeline else { throw DiagnosticsError(loaded.diagnostics) }
        let (plan, diagnostics) = Planner.plan(pipeline, options: .init(selectedJobs: jobs))
        guard let plan else { throw DiagnosticsError(diagnostics) }
        return plan
    }

    struct Outcome {
        var result: RunResult
        var events: [RunEvent]
        var runDirectory: RunDirectory

        func job(_ id: String) -> JobResult? { result.jobs.first { $0.id == id } }
        func notices(of job: String) -> [String] {
            events.compactMap { if case .notice(job, _, let message) = $0 { message } else { nil } }
        }
        var warnings: [String] {
            events.compactMap { if case .notice(_, .warning, let message) = $0 { message } else { nil } }
        }
        func lines(of job: String) -> [String] {
            events.compactMap { if case .output(job, let line) = $0 { line } else { nil } }
        }
        var allText: String {
            events.map { "\($0)" }.joined(separator: "\n")
        }
    }

    func run(
        _ yaml: String, jobs: [String] = [], parallelism: Int = 4, failFast: Bool = false, secrets: [String: String] = [:],
        killGrace: TimeSpan = .millis(300), cancellation: CancellationToken = CancellationToken(), observer: (any RunObserver)? = nil,
        recordOutput: Bool = true, cache: Bool = false, noCache: Bool = false, remote: String? = nil, stateDirectory: String? = nil,
        runner: any ProcessRunner = HostProcessRunner(), pause: (@Sendable (Duration, CancellationToken) async -> Bool)? = nil,
        racyWindow: Double = 2
    ) async throws -> Outcome {
        let state = stateDirectory ?? self.state
        let plan = try self.plan(yaml, jobs: jobs)
        let runID = RunDirectory.newRunID()
        let dir = RunDirectory(stateDirectory: state, runID: runID)
        let recorder = EventRecorder(recordOutput: recordOutput)
        var env = ProcessInfo.processInfo.environment
        env["SHIPGATE_TEST"] = "1"
        let options = RunOptions(
            runID: runID, workspace: workspace, runDirectory: dir, parallelism: parallelism, failFast: failFast,
            killGrace: killGrace, baseEnvironment: env, secrets: secrets, random: { 0 })
        var configured = options
        if let pause { configured.pause = pause }
        let sink: any RunObserver = observer.map { ObserverList([recorder, $0]) } ?? recorder
        let context =
            cache
            ? try CacheContext(
                stateDirectory: state, workspace: workspace, remote: remote.flatMap { RemoteCache.http($0, idleTimeout: .seconds(2)) }, lookups: !noCache,
                racyWindow: racyWindow)
            : nil
        let executor = Executor(plan: plan, options: configured, runner: runner, observer: sink, cancellation: cancellation, cache: context)
        let result = await executor.run()
        return Outcome(result: result, events: recorder.events, runDirectory: dir)
    }
}

final class EventRecorder: RunObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [RunEvent] = []
    private let recordOutput: Bool
    init(recordOutput: Bool) { self.recordOutput = recordOutput }
    func handle(_ event: RunEvent) {
        if !recordOutput, case .output = event { return }
        lock.lock()
        stored.append(event)
        lock.unlock()
    }
    var events: [RunEvent] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}

/// True when `pid` names a live process (a zombie waiting for its parent counts as dead).
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return true }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// Waits up to `seconds` for `pid` to die (the kernel may take a moment to reap).
func waitDead(_ pid: Int32, seconds: Double = 5) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if !isAlive(pid) { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return !isAlive(pid)
}

func readPID(_ path: String) -> Int32? {
    (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

/// Resident memory of this process in bytes (VmRSS).
func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let kb = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return kb * 1024
    }
    return 0
}
