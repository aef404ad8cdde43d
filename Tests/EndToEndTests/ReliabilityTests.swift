import Foundation
import XCTest

/// What must hold when shipgate itself is killed, or its inputs are hostile.
final class ReliabilityTests: XCTestCase {
    /// Pids whose environment holds `DRILL_MARK=mark`.
    static func marked(_ mark: String) -> [Int32] {
        let needle = Array("DRILL_MARK=\(mark)\0".utf8)
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard let pid = Int32(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { return nil }
            let bytes = Array(data) + [0]
            return bytes.count >= needle.count && (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
                ? pid : nil
        }
    }

    func testStepsDieWithShipgateWhenItIsKilled() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-reap-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        name: reap
        jobs:
          a: { steps: [{ run: 'sleep 300 & touch started-a; wait' }] }
          b: { steps: [{ run: 'touch started-b; sleep 300' }] }

        """.write(toFile: dir + "/shipgate.yml", atomically: true, encoding: .utf8)
        let mark = "reap-\(UUID().uuidString.prefix(8))"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["run", "--output", "plain"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ProcessInfo.processInfo.environment.merging(["DRILL_MARK": mark, "NO_COLOR": "1"]) { _, b in b }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { for pid in Self.marked(mark) { kill(pid, SIGKILL) } }
        // Barrier: both steps have started their sleeps (not a fixed wait).
        let started = { ["a", "b"].allSatisfy { FileManager.default.fileExists(atPath: dir + "/started-\($0)") } }
        var polls = 0
        while polls < 500 && (!started() || Self.marked(mark).count < 4) {
            polls += 1
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertGreaterThanOrEqual(Self.marked(mark).count, 4, "both steps' shells and sleeps are running")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        var left = Self.marked(mark)
        for _ in 0..<50 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            left = Self.marked(mark)
        }
        XCTAssertEqual(left, [], "steps (and the reaper) are gone after shipgate was killed with SIGKILL")
    }
}

extension ReliabilityTests {
    func testADaemonAStepDetachedEndsWithTheRun() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-daemon-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A classic daemon: fork, new session (its own process group), the parent exits at once.
        try """
        name: daemon
        jobs:
          start:
            steps: [{ run: 'setsid sh -c "echo \\$\\$ > daemon.pid.tmp && mv daemon.pid.tmp daemon.pid; exec sleep 300" < /dev/null > /dev/null 2>&1 & while [ ! -e daemon.pid ]; do sleep 0.01; done' }]
          later:
            needs: [start]
            steps: [{ run: 'kill -0 "$(cat daemon.pid)" && echo "daemon still up for later jobs"' }]

        """.write(toFile: dir + "/shipgate.yml", atomically: true, encoding: .utf8)
        let out = try await CLI.run(["run", "--output", "plain"], in: dir)
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        let pid = try XCTUnwrap(Int32((try String(contentsOfFile: dir + "/daemon.pid", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(pid, SIGKILL) }
        var alive = kill(pid, 0) == 0
        for _ in 0..<30 where alive {
            try await Task.sleep(for: .milliseconds(100))
            alive = kill(pid, 0) == 0
        }
        XCTAssertFalse(alive, "the detached daemon \(pid) outlived the run")
    }
}
