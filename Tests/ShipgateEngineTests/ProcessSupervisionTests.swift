import Foundation
import ShipgateEngine
import ShipgateModel
import ShipgateProcess
import XCTest

/// Timeouts, cancellation and cleanup: no process a step started outlives it.
final class ProcessSupervisionTests: XCTestCase {
    var h: Harness!

    override func setUpWithError() throws { h = try Harness() }
    override func tearDown() { h.cleanUp() }

    /// The group dies with its step: a grandchild and one that ignores SIGTERM. The step is
    /// ended by its idle timeout, which starts only once it stops printing, that is after it wrote
    /// both pids: a barrier, so a slow machine cannot end it before they exist. (Timeouts and
    /// idle timeouts share the kill path; `testJobTimeoutIsReportedAsSuch` checks the wording.)
    func testTerminationKillsTheWholeProcessGroup() async throws {
        let out = try await h.run(
            """
            name: timeout
            jobs:
              hang:
                idle-timeout: 500ms
                steps:
                  - run: |
                      echo started
                      sleep 300 &
                      echo $! > grandchild.pid
                      sh -c 'trap "" TERM; echo $$ > stubborn.pid; while :; do sleep 1; done' &
                      while [ ! -s stubborn.pid ]; do echo waiting; sleep 0.01; done
                      wait
            """, killGrace: .millis(300))
        XCTAssertEqual(out.job("hang")?.status, .failed)
        let grandchild = try XCTUnwrap(readPID(h.workspace + "/grandchild.pid"))
        let stubborn = try XCTUnwrap(readPID(h.workspace + "/stubborn.pid"))
        let dead1 = await waitDead(grandchild)
        let dead2 = await waitDead(stubborn)
        XCTAssertTrue(dead1, "grandchild \(grandchild) survived the timeout")
        XCTAssertTrue(dead2, "SIGTERM-ignoring grandchild \(stubborn) survived the SIGKILL")
    }

    func testJobTimeoutIsReportedAsSuch() async throws {
        let out = try await h.run("name: t\njobs: {a: {timeout: 300ms, steps: [{run: 'sleep 10'}]}}\n", killGrace: .millis(300))
        XCTAssertEqual(out.job("a")?.status, .failed)
        XCTAssertEqual(out.job("a")?.reason, "job timed out after 300ms (step `sleep 10`)")
    }

    func testStepTimeoutIsReportedAsSuch() async throws {
        let out = try await h.run("name: t\njobs: {a: {steps: [{run: 'sleep 10', timeout: 300ms}]}}\n")
        XCTAssertEqual(out.job("a")?.reason, "step `sleep 10` timed out after 300ms")
        XCTAssertNil(out.job("a")?.exitCode)
    }

    func testCancellationStopsEverythingAndKillsProcesses() async throws {
        let token = CancellationToken()
        let workspace = h.workspace
        Task {
            // Cancel once the step has written its pid: no fixed sleep racing the spawn.
            for _ in 0..<500 {
                if FileManager.default.fileExists(atPath: workspace + "/child.pid") { break }
                try? await Task.sleep(for: .milliseconds(10))
            }
            token.cancel(reason: "interrupted (SIGINT)")
        }
        let out = try await h.run(
            """
            name: cancel
            jobs:
              long: {steps: [{run: "sleep 60 & echo $! > child.pid; wait"}]}
              after: {needs: [long], steps: [{run: "echo never"}]}
            """, cancellation: token)
        XCTAssertEqual(out.result.status, .cancelled)
        XCTAssertEqual(out.job("long")?.status, .cancelled)
        XCTAssertEqual(out.job("long")?.reason, "cancelled: interrupted (SIGINT)")
        XCTAssertEqual(out.job("after")?.status, .cancelled)
        let child = try XCTUnwrap(readPID(h.workspace + "/child.pid"))
        let dead = await waitDead(child)
        XCTAssertTrue(dead)
    }

    func testBackgroundProcessesEndWithTheirJob() async throws {
        let out = try await h.run(
            """
            name: bg
            jobs:
              server:
                steps:
                  - run: "sleep 120 & echo $! > server.pid"
                  - run: 'kill -0 "$(cat server.pid)" && echo "still up in the next step"'
            """)
        XCTAssertEqual(out.job("server")?.status, .success)
        XCTAssertEqual(out.lines(of: "server"), ["still up in the next step"])
        let pid = try XCTUnwrap(readPID(h.workspace + "/server.pid"))
        let dead = await waitDead(pid)
        XCTAssertTrue(dead, "background process \(pid) outlived its job")
    }

    /// A step printing 100 MB: shipgate's memory must not grow with it.
    func testHugeOutputKeepsMemoryBounded() async throws {
        let counter = LineCounter()
        let baseline = residentBytes()
        let sampler = Task.detached { () -> Int in
            var peak = 0
            while !Task.isCancelled {
                peak = max(peak, residentBytes())
                try? await Task.sleep(for: .milliseconds(20))
            }
            return peak
        }
        let out = try await h.run(
            """
            name: big
            jobs:
              flood:
                steps:
                  - run: python3 -c "import sys; line = 'x' * 9999 + '\\n'; sys.stdout.write(line * 10000); sys.stdout.write('y' * 300000)"
            """, observer: counter, recordOutput: false)
        sampler.cancel()
        let peak = await sampler.value
        XCTAssertEqual(out.job("flood")?.status, .success)
        // 10,000 lines of 10 kB (100 MB), then one 300,000-byte line without a newline, cut into
        // 64 KiB pieces.
        XCTAssertEqual(counter.lines, 10_000 + 5)
        XCTAssertEqual(counter.bytes, 10_000 * 9999 + 300_000)
        XCTAssertLessThan(peak - baseline, 48 << 20, "resident memory grew by \((peak - baseline) >> 20) MiB")
    }
}

/// Counts output lines without keeping them.
final class LineCounter: RunObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var total = 0
    func handle(_ event: RunEvent) {
        if case .output(_, let line) = event {
            lock.lock()
            count += 1
            total += line.utf8.count
            lock.unlock()
        }
    }
    var lines: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
    var bytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return total
    }
}
