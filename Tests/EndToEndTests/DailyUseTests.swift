import Foundation
import XCTest

/// Small things users hit every day, through the built binary: finding the pipeline from a
/// subdirectory, an optional `name`, errors without a usage line, `explain` on matrix and
/// skipped jobs, `resume` keeping `--no-cache`, and retention of `.shipgate/runs`.
final class DailyUseTests: XCTestCase {
    func testPipelineIsFoundFromASubdirectoryAndNameIsOptional() async throws {
        let s = try Scratch(fixture: "basic")
        try OrderingEnvironmentTests.write(
            ["shipgate.yml": "jobs:\n  hello:\n    steps: [{run: echo \"hello from $(pwd)\"}]\n", "src/deep/a.txt": "a\n"], in: s.path)
        _ = try await CLI.shell("git init -q -b main", in: s.path)
        let sub = s.path + "/src/deep"
        let plan = try await CLI.run(["plan"], in: sub)
        XCTAssertEqual(plan.status, 0, plan.stderr)
        XCTAssertTrue(plan.stdout.contains("shipgate"), "the default name is the file's: \(plan.stdout)")
        let run = try await CLI.run(["run", "--output", "plain"], in: sub)
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains(" of shipgate: 1 job"), run.stdout)
        XCTAssertTrue(run.stdout.contains("[hello] hello from \(s.path)\n"), "steps run at the root: \(run.stdout)")
        let explicit = try await CLI.run(["validate", "shipgate.yml"], in: sub)
        XCTAssertEqual(explicit.status, 0, "a relative path is also looked for from the root: \(explicit.stderr)")
        let status = try await CLI.run(["explain", "last", "hello"], in: sub)
        XCTAssertEqual(status.status, 0, status.stderr)
    }

    func testPipelineErrorsHaveNoUsageLine() async throws {
        let s = try Scratch(fixture: "basic")
        let empty = s.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let none = try await CLI.run(["run"], in: empty)
        XCTAssertEqual(none.status, 2)
        XCTAssertEqual(none.stderr, "error: no pipeline file given, and none of shipgate.yml, shipgate.yaml, pipelines/ci.yml exists here\n")
        let noRuns = try await CLI.run(["explain", "last", "x"], in: empty)
        XCTAssertEqual(noRuns.status, 2)
        XCTAssertFalse(noRuns.stderr.contains("Usage:"), noRuns.stderr)
        XCTAssertTrue(noRuns.stderr.hasPrefix("error: no runs in "), noRuns.stderr)
        let usage = try await CLI.run(["run", "pipeline.yml", "--jobs", "many"], in: s.path)
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.stderr.contains("Usage:"), "a real usage error keeps it: \(usage.stderr)")
    }
}
