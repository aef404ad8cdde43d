import Foundation
import XCTest

/// How a running step looks from outside, through the built binary and real processes:
/// streamed logs, the grace period on timeout and Ctrl-C, idle timeouts, exit reasons.
final class StepLifecycleTests: XCTestCase {
    var dir = ""
    var mark = ""
    var started: [Process] = []

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-life-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        mark = "life-\(UUID().uuidString.prefix(8))"
    }

    override func tearDown() async throws {
        for p in started where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in started { p.waitUntilExit() }
        // Nothing a test started may outlive it: shipgate, its reaper helper, the steps.
        let deadline = Date().addingTimeInterval(10)
        var left = ReliabilityTests.marked(mark)
        while !left.isEmpty && Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
            left = ReliabilityTests.marked(mark)
        }
        for pid in left { kill(pid, SIGKILL) }
        XCTAssertEqual(left, [], "processes outlived the test")
        try? FileManager.default.removeItem(atPath: dir)
    }

    func write(_ yaml: String) throws {
        try yaml.write(toFile: dir + "/shipgate.yml", atomically: true, encoding: .utf8)
    }

    /// Starts `shipgate ARGS` in the background; its processes carry this test's mark.
    func start(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        var env = ProcessInfo.processInfo.environment
        for key in ["GITHUB_ACTIONS", "SHIPGATE_STATE_DIR", "CI"] { env[key] = nil }
        env["DRILL_MARK"] = mark
        env["NO_COLOR"] = "1"
        for (k, v) in extra { env[k] = v }
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        started.append(p)
        return p
    }

    /// Polls `condition` until it holds or `seconds` pass; returns whether it held.
    func poll(_ seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: dir + "/" + name) }

    /// The text of `<job>.log` of the only run in the state directory ("" when absent).
    func log(_ job: String) -> String {
        let runs = dir + "/.shipgate/runs"
        guard let run = (try? FileManager.default.contentsOfDirectory(atPath: runs))?.first else { return "" }
        return (try? String(contentsOfFile: "\(runs)/\(run)/\(job).log", encoding: .utf8)) ?? ""
    }

    func exitStatus(_ p: Process) async -> Int32? {
        guard await poll(30, { !p.isRunning }) else { return nil }
        return p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
    }
}

// MARK: - Streamed logs

extension StepLifecycleTests {
    func testTheLogIsWrittenWhileTheJobRunsAndSurvivesKill9() async throws {
        try write(
            """
            name: stream
            secrets: [TOKEN]
            jobs:
              talk:
                steps:
                  - run: 'echo "first line $TOKEN"; touch spoke-1; while [ ! -e go ]; do sleep 0.05; done; echo "second line"; touch spoke-2; sleep 300'

            """)
        let shipgate = try start(["run", "--output", "plain"], environment: ["TOKEN": "s3cr3t-value"])
        let spoke1 = await poll { exists("spoke-1") }
        XCTAssertTrue(spoke1)
        let first = Date()
        let streamed = await poll { log("talk").contains("first line ***") }
        let latency = Date().timeIntervalSince(first)
        XCTAssertTrue(streamed, "the line is in the log while the job runs: \(log("talk"))")
        XCTAssertLessThan(latency, 3, "flushed within about a second (took \(latency) s)")
        XCTAssertTrue(shipgate.isRunning)
        XCTAssertFalse(log("talk").contains("s3cr3t-value"), "masked")

        FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        let spoke2 = await poll { exists("spoke-2") }
        XCTAssertTrue(spoke2)
        let secondStreamed = await poll { log("talk").contains("second line") }
        XCTAssertTrue(secondStreamed)
        kill(shipgate.processIdentifier, SIGKILL)
        shipgate.waitUntilExit()
        let text = log("talk")
        XCTAssertTrue(text.contains("-- step 1/1:"), text)
        XCTAssertTrue(text.contains("first line ***") && text.contains("second line"), "the log survives kill -9: \(text)")
    }
}
