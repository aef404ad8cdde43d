import Foundation
import ShipgateEngine
import ShipgateModel
import ShipgateProcess
import XCTest

/// Bugs found by review, each kept as a test.
final class RegressionTests: XCTestCase {
    var h: Harness!

    override func setUpWithError() throws { h = try Harness() }
    override func tearDown() { h.cleanUp() }

    /// A step that closes its output and keeps running is still held to its timeout.
    func testTimeoutHoldsAfterTheStepClosesItsOutput() async throws {
        let start = Date()
        let out = try await h.run("name: t\njobs: {a: {timeout: 500ms, steps: [{run: 'echo bye; exec >/dev/null 2>&1; sleep 30'}]}}\n")
        XCTAssertEqual(out.job("a")?.status, .failed)
        XCTAssertEqual(out.job("a")?.reason, "job timed out after 500ms (step `echo bye; exec >/dev/null 2>&1; sleep 30`)")
        XCTAssertEqual(out.lines(of: "a"), ["bye"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
    }

    /// Ctrl-C during a `--fail-fast` run is an interruption, not a failure.
    func testInterruptUnderFailFastIsCancelled() async throws {
        let token = CancellationToken()
        let workspace = h.workspace
        Task {
            for _ in 0..<500 where !FileManager.default.fileExists(atPath: workspace + "/started") {
                try? await Task.sleep(for: .milliseconds(10))
            }
            token.cancel(reason: "interrupted (SIGINT)")
        }
        let out = try await h.run("name: i\njobs: {a: {steps: [{run: 'touch started; sleep 30'}]}}\n", failFast: true, cancellation: token)
        XCTAssertEqual(out.result.status, .cancelled)
    }

    /// Ids that sanitize to the same file name still get their own log and outputs files.
    func testMatrixValuesThatLookAlikeGetDistinctFiles() async throws {
        let out = try await h.run(
            """
            name: names
            jobs:
              unit:
                matrix: {os: ["mac os", "mac_os"]}
                steps: [{run: 'echo "$SHIPGATE_JOB"; echo "os=${{ matrix.os }}" >> "$SHIPGATE_OUTPUT"'}]
            """)
        XCTAssertEqual(out.job("unit (os=mac os)")?.outputs, ["os": "mac os"])
        XCTAssertEqual(out.job("unit (os=mac_os)")?.outputs, ["os": "mac_os"])
        let logs = Set(out.result.jobs.compactMap(\.log))
        XCTAssertEqual(logs, ["unit-os=mac_os.log", "unit-os=mac_os-2.log"])
        for job in out.result.jobs {
            let log = try String(contentsOfFile: out.runDirectory.root + "/" + job.log!, encoding: .utf8)
            XCTAssertTrue(log.contains(" \(job.id)\n"), "\(job.log!) holds only its own job")
        }
    }

    /// A working directory that leaves the workspace only after interpolation is refused at run time.
    func testInterpolatedWorkingDirectoryCannotLeaveTheWorkspace() async throws {
        let out = try await h.run(
            """
            name: escape
            jobs:
              a:
                matrix: {dir: ["../.."]}
                steps: [{run: pwd, working-directory: "${{ matrix.dir }}"}]
            """)
        XCTAssertEqual(out.job("a (dir=../..)")?.status, .failed)
        XCTAssertEqual(out.job("a (dir=../..)")?.reason, "step `pwd`: working directory `../..` leaves the workspace")
        XCTAssertEqual(out.lines(of: "a (dir=../..)"), [])
    }

    /// The record survives a crash mid-run: jobs journaled after the first snapshot are read back,
    /// and a run whose process is gone reads as interrupted.
    func testRecordMergesTheJournalAndDetectsDeadRuns() throws {
        var dir = RunDirectory(stateDirectory: h.state, runID: "20261126-000000-abcdef")
        dir.assignNames(["a", "b"])
        try dir.create()
        // A pid that cannot be alive: above the kernel's pid_max default range.
        let deadPID: Int32 = 4_000_000
        let record = RunResult(
            runID: dir.runID, pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "sha256:0", status: .running,
            startedAt: Date(), finishedAt: nil, durationMs: 0, pid: deadPID, jobs: [])
        try dir.write(record)
        let journal = RunJournal(path: dir.journalPath)
        XCTAssertTrue(journal.append(JobResult(id: "a", status: .success, attempts: 1)))
        XCTAssertTrue(journal.append(JobResult(id: "b", status: .failed, attempts: 2, exitCode: 1)))
        // A torn last line, as a kill -9 in the middle of a write could leave.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: dir.journalPath))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"id":"c","sta"#.utf8))
        try handle.close()
        let read = try RunDirectory.read(dir.root)
        XCTAssertEqual(read.status, .interrupted)
        XCTAssertEqual(read.jobs.map(\.id), ["a", "b"])
        XCTAssertEqual(read.jobs.map(\.status), [.success, .failed])
    }
}
