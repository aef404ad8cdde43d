import Foundation
import ShipgateEngine
import ShipgateModel
import ShipgateProcess
import XCTest

/// The executor with real child processes: ordering, failures, outputs, env (the scheduler's
/// semantics on the fake runner are in `SchedulerTests`).
final class ExecutorTests: XCTestCase {
    var h: Harness!

    override func setUpWithError() throws { h = try Harness() }
    override func tearDown() { h.cleanUp() }

    func testDependentsWaitForTheirNeeds() async throws {
        let out = try await h.run(
            """
            name: dag
            jobs:
              first: {steps: [{run: "echo first >> order"}]}
              second: {needs: [first], steps: [{run: "echo second >> order"}]}
              third: {needs: [second], steps: [{run: "echo third >> order"}]}
            """)
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(try String(contentsOfFile: h.workspace + "/order", encoding: .utf8), "first\nsecond\nthird\n")
    }

    func testFailureSkipsDependentsButIndependentJobsContinue() async throws {
        let out = try await h.run(
            """
            name: fail
            jobs:
              broken: {steps: [{run: "echo about to fail; exit 3"}]}
              after: {needs: [broken], steps: [{run: "echo never"}]}
              later: {needs: [after], steps: [{run: "echo never"}]}
              independent: {needs: [], steps: [{run: "echo fine"}]}
            """)
        XCTAssertEqual(out.result.status, .failed)
        XCTAssertEqual(out.job("broken")?.status, .failed)
        XCTAssertEqual(out.job("broken")?.exitCode, 3)
        XCTAssertEqual(out.job("broken")?.reason, "step `echo about to fail; exit 3` exited with code 3")
        XCTAssertEqual(out.job("after")?.status, .skipped)
        XCTAssertEqual(out.job("after")?.reason, "needs failed: broken")
        XCTAssertEqual(out.job("later")?.status, .skipped)
        XCTAssertEqual(out.job("independent")?.status, .success)
        XCTAssertEqual(out.lines(of: "independent"), ["fine"])
    }

    func testContinueOnErrorLetsDependentsRun() async throws {
        let out = try await h.run(
            """
            name: coe
            jobs:
              flaky: {continue-on-error: true, steps: [{run: "exit 1"}]}
              next: {needs: [flaky], steps: [{run: "echo ran"}]}
            """)
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(out.job("flaky")?.status, .failed)
        XCTAssertEqual(out.job("next")?.status, .success)
    }

    func testRetryCountsEveryAttempt() async throws {
        let out = try await h.run(
            """
            name: retry
            jobs:
              flaky:
                retry: {attempts: 4, backoff: 10ms}
                steps:
                  - run: 'echo "try $SHIPGATE_ATTEMPT"; test "$SHIPGATE_ATTEMPT" -ge 3'
              hopeless:
                retry: {attempts: 2, backoff: 10ms}
                steps: [{run: "exit 7"}]
            """)
        XCTAssertEqual(out.job("flaky")?.status, .success)
        XCTAssertEqual(out.job("flaky")?.attempts, 3)
        XCTAssertEqual(out.lines(of: "flaky"), ["try 1", "try 2", "try 3"])
        XCTAssertEqual(out.job("hopeless")?.status, .failed)
        XCTAssertEqual(out.job("hopeless")?.attempts, 2)
        let failures = out.events.compactMap { e -> (String, Int, Int64?)? in
            if case .attemptFailed(let job, let attempt, _, let retryIn) = e { (job, attempt, retryIn?.milliseconds) } else { nil }
        }
        XCTAssertEqual(failures.filter { $0.0 == "flaky" }.map(\.1), [1, 2])
        XCTAssertEqual(failures.filter { $0.0 == "flaky" }.map(\.2), [5, 10], "equal jitter with random 0: half of 10ms, then half of 20ms")
        XCTAssertEqual(failures.filter { $0.0 == "hopeless" }.map(\.2), [5, nil])
    }

    func testOutputsFlowToDependentJobs() async throws {
        let out = try await h.run(
            """
            name: outputs
            jobs:
              build:
                steps:
                  - run: |
                      echo "version=1.2.3" >> "$SHIPGATE_OUTPUT"
                      printf 'notes<<EOF\\nline one\\nline two\\nEOF\\n' >> "$SHIPGATE_OUTPUT"
              deploy:
                needs: [build]
                env: {VERSION: "${{ needs.build.outputs.version }}"}
                steps:
                  - run: |
                      echo "deploying $VERSION"
                      echo "${{ needs.build.outputs.notes }}"
            """)
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(out.job("build")?.outputs, ["version": "1.2.3", "notes": "line one\nline two"])
        XCTAssertEqual(out.lines(of: "deploy"), ["deploying 1.2.3", "line one", "line two"])
    }

    func testStepEnvironmentAndWorkingDirectory() async throws {
        try FileManager.default.createDirectory(atPath: h.workspace + "/services/api", withIntermediateDirectories: true)
        let out = try await h.run(
            """
            name: env
            env: {LEVEL: pipeline, KEEP: pipeline}
            jobs:
              show:
                env: {LEVEL: job}
                steps:
                  - run: echo "$LEVEL $KEEP $SHIPGATE_JOB $(basename "$PWD") $CI"
                    working-directory: services/api
                    env: {LEVEL: step}
                  - run: echo "$SHIPGATE_RUN_ID" "$SHIPGATE_WORKSPACE"
            """)
        XCTAssertEqual(out.result.status, .success)
        let lines = out.lines(of: "show")
        XCTAssertEqual(lines.first, "step pipeline show api true")
        XCTAssertEqual(lines.last, "\(out.result.runID) \(h.workspace)")
    }

    func testBashShellUsesPipefail() async throws {
        let out = try await h.run(
            """
            name: shells
            jobs:
              bash: {shell: bash, steps: [{run: "false | true; echo unreachable"}]}
              sh: {steps: [{run: "false; echo unreachable"}]}
            """)
        XCTAssertEqual(out.job("bash")?.status, .failed)
        XCTAssertEqual(out.job("sh")?.status, .failed, "sh runs with -e")
        XCTAssertEqual(out.lines(of: "bash"), [])
    }

    func testMissingWorkingDirectoryIsAClearFailure() async throws {
        let out = try await h.run("name: wd\njobs: {a: {steps: [{run: 'true', working-directory: nope}]}}\n")
        XCTAssertEqual(out.job("a")?.status, .failed)
        XCTAssertEqual(out.job("a")?.reason, "step `true` could not start: working directory \(h.workspace)/nope does not exist")
    }

    func testSecretsAreMaskedInEventsLogsAndOutputs() async throws {
        let secret = "hunter2-s3cr3t"
        let out = try await h.run(
            """
            name: secrets
            jobs:
              leak:
                steps:
                  - run: |
                      echo "token is $API_TOKEN"
                      echo "token=$API_TOKEN" >> "$SHIPGATE_OUTPUT"
                      exit 1
            """, secrets: ["API_TOKEN": secret])
        XCTAssertEqual(out.lines(of: "leak"), ["token is ***"])
        XCTAssertEqual(out.job("leak")?.status, .failed)
        let log = try String(contentsOfFile: out.runDirectory.logPath(for: "leak"), encoding: .utf8)
        XCTAssertTrue(log.contains("token is ***"))
        XCTAssertFalse(log.contains(secret))
        XCTAssertFalse(out.allText.contains(secret))
        let record = try String(contentsOfFile: out.runDirectory.recordPath, encoding: .utf8)
        XCTAssertFalse(record.contains(secret))
    }

    func testRunRecordIsWrittenAndReadable() async throws {
        let out = try await h.run("name: rec\njobs: {a: {steps: [{run: 'echo hi'}]}, b: {needs: [a], steps: [{run: 'exit 2'}]}}\n")
        let record = try RunDirectory.read(out.runDirectory.recordPath)
        XCTAssertEqual(record.status, .failed)
        XCTAssertEqual(record.jobs.map(\.id), ["a", "b"])
        XCTAssertEqual(record.jobs.map(\.status), [.success, .failed])
        XCTAssertEqual(record.jobs.map(\.exitCode), [0, 2])
        XCTAssertEqual(record.pid, getpid())
        let log = try String(contentsOfFile: out.runDirectory.logPath(for: "a"), encoding: .utf8)
        let line = log.split(separator: "\n").first { $0.hasSuffix(" hi") }
        XCTAssertNotNil(line)
        XCTAssertNotNil(line?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z hi$"#, options: .regularExpression), "timestamped: \(line ?? "")")
    }
}
