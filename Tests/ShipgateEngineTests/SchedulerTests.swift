import Foundation
import ShipgateEngine
import ShipgateModel
import ShipgateProcess
import XCTest

/// The scheduler's semantics on the fake runner: parallelism, order, fail-fast, retries and
/// backoff, cancellation and skip propagation, with no process, sleep or time window.
final class SchedulerTests: XCTestCase {
    var h: Harness!

    override func setUpWithError() throws { h = try Harness() }
    override func tearDown() { h.cleanUp() }

    /// Six held jobs under `--jobs 2`: never more than two run, and each release lets exactly
    /// the next one start.
    func testNoMoreJobsRunThanTheLimit() async throws {
        let fake = FakeRunner()
        let names = ["a", "b", "c", "d", "e", "f"]
        let yaml = "name: par\njobs:\n" + names.map { "  \($0): {steps: [{run: 'hold \($0)'}]}\n" }.joined()
        let h = self.h!
        let run = Task { try await h.run(yaml, parallelism: 2, runner: fake) }
        var released: Set<String> = []
        for done in 0..<names.count {
            await fake.waitForStarts(min(done + 2, names.count))
            XCTAssertLessThanOrEqual(fake.running, 2)
            // Release the job that started first of those not released yet.
            let next = String(fake.started.first { !released.contains($0) }!.dropFirst("hold ".count))
            released.insert("hold " + next)
            fake.release(next)
        }
        let out = try await run.value
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(fake.mostAtOnce, 2)
        XCTAssertEqual(Set(fake.started), Set(names.map { "hold \($0)" }))
    }

    func testAllIndependentJobsRunTogetherWhenThereIsRoom() async throws {
        let fake = FakeRunner()
        let yaml = "name: par\njobs:\n" + ["a", "b", "c"].map { "  \($0): {steps: [{run: 'hold go'}]}\n" }.joined()
        let h = self.h!
        let run = Task { try await h.run(yaml, parallelism: 3, runner: fake) }
        await fake.waitForStarts(3)  // all three started before any could end
        fake.release("go")
        let out = try await run.value
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(fake.mostAtOnce, 3)
    }

    func testJobsStartInDependencyOrder() async throws {
        let fake = FakeRunner()
        let out = try await h.run(
            """
            name: dag
            jobs:
              c: {needs: [b], steps: [{run: "echo c"}]}
              b: {needs: [a], steps: [{run: "echo b"}]}
              a: {steps: [{run: "echo a"}]}
              d: {needs: [a, c], steps: [{run: "echo d"}]}
            """, parallelism: 4, runner: fake)
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(fake.started, ["echo a", "echo b", "echo c", "echo d"])
        XCTAssertEqual(out.lines(of: "d"), ["d"])
    }

    /// A failure skips everything downstream, transitively, and nothing else.
    func testFailureSkipsOnlyWhatDependsOnIt() async throws {
        let fake = FakeRunner()
        let out = try await h.run(
            """
            name: skip
            jobs:
              broken: {steps: [{run: "exit 3"}]}
              after: {needs: [broken], steps: [{run: "echo never"}]}
              later: {needs: [after], steps: [{run: "echo never"}]}
              side: {steps: [{run: "echo fine"}]}
              joined: {needs: [side, later], steps: [{run: "echo never"}]}
            """, runner: fake)
        XCTAssertEqual(out.result.status, .failed)
        XCTAssertEqual(out.job("broken")?.exitCode, 3)
        XCTAssertEqual(out.job("after")?.reason, "needs failed: broken")
        XCTAssertEqual(out.job("later")?.status, .skipped)
        XCTAssertEqual(out.job("joined")?.status, .skipped)
        XCTAssertEqual(out.job("side")?.status, .success)
        XCTAssertFalse(fake.started.contains("echo never"))
    }

    /// --fail-fast: the first failure cancels the running job and everything not started.
    func testFailFastCancelsRunningAndPendingJobs() async throws {
        let fake = FakeRunner()
        let h = self.h!
        let run = Task {
            try await h.run(
                """
                name: ff
                jobs:
                  fails: {steps: [{run: "hold go; exit 1"}]}
                  slow: {steps: [{run: "hold forever"}]}
                  queued: {needs: [slow], steps: [{run: "echo never"}]}
                """, parallelism: 2, failFast: true, runner: fake)
        }
        await fake.waitForStarts(2)
        fake.release("go")
        let out = try await run.value
        XCTAssertEqual(out.result.status, .failed)
        XCTAssertEqual(out.job("fails")?.status, .failed)
        XCTAssertEqual(out.job("slow")?.status, .cancelled)
        XCTAssertEqual(out.job("queued")?.status, .cancelled)
        XCTAssertEqual(out.job("queued")?.reason, "not started: --fail-fast: fails failed")
        // Both start at once (their order is the scheduler's); `queued` never does.
        XCTAssertEqual(Set(fake.started), ["hold go; exit 1", "hold forever"])
        XCTAssertEqual(fake.started.count, 2)
    }

    /// Without --fail-fast a failure cancels nothing.
    func testWithoutFailFastOtherJobsFinish() async throws {
        let fake = FakeRunner()
        let h = self.h!
        let run = Task {
            try await h.run(
                "name: nff\njobs:\n  fails: {steps: [{run: 'exit 1'}]}\n  slow: {steps: [{run: 'hold go'}]}\n", parallelism: 2, runner: fake)
        }
        await fake.waitForStarts(2)
        fake.release("go")
        let out = try await run.value
        XCTAssertEqual(out.job("slow")?.status, .success)
        XCTAssertEqual(out.result.status, .failed)
    }

    /// Retries: every attempt counted, the backoff doubles with equal jitter (random 0 gives
    /// half of it), capped by max-backoff, and no pause after the last attempt.
    func testRetriesBackOffExponentially() async throws {
        let fake = FakeRunner()
        let pauses = PauseRecorder()
        let out = try await h.run(
            """
            name: retry
            jobs:
              flaky:
                retry: {attempts: 5, backoff: 1s, max-backoff: 3s}
                steps: [{run: "fail-first 4"}]
            """, runner: fake, pause: pauses.pause)
        XCTAssertEqual(out.job("flaky")?.status, .success)
        XCTAssertEqual(out.job("flaky")?.attempts, 5)
        XCTAssertEqual(pauses.pauses, [.milliseconds(500), .milliseconds(1000), .milliseconds(1500), .milliseconds(1500)])
        let retryIn = out.events.compactMap { e -> Int64?? in
            if case .attemptFailed("flaky", _, _, let retryIn) = e { retryIn?.milliseconds } else { nil }
        }
        XCTAssertEqual(retryIn, [500, 1000, 1500, 1500])
    }

    func testAJobOutOfAttemptsFailsWithoutAFinalPause() async throws {
        let fake = FakeRunner()
        let pauses = PauseRecorder()
        let out = try await h.run(
            "name: r\njobs:\n  hopeless:\n    retry: {attempts: 3, backoff: 10ms}\n    steps: [{run: 'exit 7'}]\n", runner: fake, pause: pauses.pause)
        XCTAssertEqual(out.job("hopeless")?.status, .failed)
        XCTAssertEqual(out.job("hopeless")?.attempts, 3)
        XCTAssertEqual(out.job("hopeless")?.exitCode, 7)
        XCTAssertEqual(pauses.pauses.count, 2)
        XCTAssertEqual(fake.started.count, 3)
    }

    /// Cancelling the run (Ctrl-C): the running jobs end cancelled, the rest never start, and
    /// the run is `cancelled`.
    func testCancellationStopsRunningAndPendingJobs() async throws {
        let fake = FakeRunner()
        let token = CancellationToken()
        let h = self.h!
        let run = Task {
            try await h.run(
                """
                name: cancel
                jobs:
                  a: {steps: [{run: "hold never"}]}
                  b: {steps: [{run: "hold never"}]}
                  c: {needs: [a], steps: [{run: "echo never"}]}
                  d: {steps: [{run: "echo late"}]}
                """, parallelism: 2, cancellation: token, runner: fake)
        }
        await fake.waitForStarts(2)
        token.cancel(reason: "interrupted (SIGINT)")
        let out = try await run.value
        XCTAssertEqual(out.result.status, .cancelled)
        XCTAssertEqual(out.job("a")?.status, .cancelled)
        XCTAssertEqual(out.job("b")?.status, .cancelled)
        XCTAssertEqual(out.job("c")?.status, .cancelled)
        XCTAssertEqual(out.job("d")?.status, .cancelled)
        XCTAssertEqual(fake.started, ["hold never", "hold never"])
    }

    /// A retry is cut short by cancellation during its backoff.
    func testCancellationDuringBackoffEndsTheJob() async throws {
        let fake = FakeRunner()
        let token = CancellationToken()
        let out = try await h.run(
            "name: r\njobs:\n  j:\n    retry: {attempts: 3, backoff: 1s}\n    steps: [{run: 'exit 1'}]\n", cancellation: token, runner: fake,
            pause: { _, cancellation in
                token.cancel(reason: "interrupted (SIGINT)")
                return !cancellation.isCancelled
            })
        XCTAssertEqual(out.job("j")?.status, .cancelled)
        XCTAssertEqual(out.job("j")?.attempts, 1)
        XCTAssertEqual(out.job("j")?.reason, "cancelled while waiting to retry: interrupted (SIGINT)")
    }
}
