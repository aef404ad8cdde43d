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

    /// `explain` takes a matrix job's declared id (every variant) and says why a job did not run.
    func testExplainMatrixAndSkippedJobs() async throws {
        let s = try Scratch(fixture: "basic")
        try OrderingEnvironmentTests.write(
            [
                "src/a.txt": "a\n",
                "pipeline.yml": """
                name: explain
                jobs:
                  unit:
                    matrix: { py: ["3.11", "3.12"] }
                    inputs: ["src/**"]
                    steps: [{run: "true"}]
                  build: {needs: [], steps: [{run: exit 3}]}
                  ship: {needs: [build], steps: [{run: "true"}]}
                """,
            ], in: s.path)
        let out = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path)
        XCTAssertEqual(out.status, 1)
        let unit = try await CLI.run(["explain", "last", "unit"], in: s.path)
        XCTAssertEqual(unit.status, 0, unit.stderr)
        XCTAssertTrue(unit.stdout.contains("unit (py=3.11) ran because:"), unit.stdout)
        XCTAssertTrue(unit.stdout.contains("unit (py=3.12) ran because:"), unit.stdout)
        let json = try await CLI.run(["explain", "last", "unit", "--json"], in: s.path)
        let decisions = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        XCTAssertEqual(decisions?.compactMap { $0["job"] as? String }, ["unit (py=3.11)", "unit (py=3.12)"])
        let ship = try await CLI.run(["explain", "last", "ship"], in: s.path)
        XCTAssertEqual(ship.stdout, "ship did not run: it was skipped: needs failed: build.\n")
        let unknown = try await CLI.run(["explain", "last", "uni"], in: s.path)
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("has no job `uni`; its jobs: "), unknown.stderr)
    }

    /// `resume` of a run started with `--no-cache` keeps `--no-cache`.
    func testResumeKeepsNoCache() async throws {
        let s = try Scratch(fixture: "basic")
        try OrderingEnvironmentTests.write(
            [
                "c.txt": "c\n",
                "pipeline.yml": """
                name: resume
                jobs:
                  b: {steps: [{run: test -z "$FAIL"}]}
                  c: {needs: [b], inputs: ["c.txt"], steps: [{run: cat c.txt}]}
                """,
            ], in: s.path)
        let first = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path)
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let failed = try await CLI.run(["run", "pipeline.yml", "--no-cache", "--output", "plain"], in: s.path, environment: ["FAIL": "1"])
        XCTAssertEqual(failed.status, 1)
        XCTAssertEqual(try OrderingEnvironmentTests.statuses(s.path), ["b": "failed", "c": "skipped"])
        let resumed = try await CLI.run(["resume", "last", "--output", "plain"], in: s.path)
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertEqual(try OrderingEnvironmentTests.statuses(s.path), ["b": "success", "c": "success"], "not restored: the run is --no-cache")
    }

    /// `.shipgate/runs` keeps a default number of runs after each run; `runs prune` applies
    /// `--keep` and `--max-age`, and never removes a blocked run.
    func testRunsRetention() async throws {
        let s = try Scratch(fixture: "basic")
        try "name: r\njobs: {a: {steps: [{run: \"true\"}]}}\n".write(toFile: s.path + "/pipeline.yml", atomically: true, encoding: .utf8)
        let runs = s.path + "/.shipgate/runs"
        func ids() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).filter { !$0.hasPrefix(".") }.sorted() }
        for _ in 0..<4 {
            let out = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path, environment: ["SHIPGATE_KEEP_RUNS": "3"])
            XCTAssertEqual(out.status, 0, out.stderr)
        }
        XCTAssertEqual(ids().count, 3, "the cap applies after each run")
        let newest = try XCTUnwrap(ids().last)

        // Two runs from 2020: a failed one goes with --max-age, a blocked one stays.
        let record = try String(contentsOfFile: "\(runs)/\(newest)/run.json", encoding: .utf8)
        for (id, status) in [("20200101-000000-000aaaaaa", "failed"), ("20200101-000001-000bbbbbb", "blocked")] {
            try FileManager.default.createDirectory(atPath: "\(runs)/\(id)", withIntermediateDirectories: true)
            let old = record.replacingOccurrences(of: #""startedAt":"[^"]+""#, with: #""startedAt":"2020-01-01T00:00:00.000Z""#, options: .regularExpression)
                .replacingOccurrences(of: #""status":"success","startedAt""#, with: "\"status\":\"\(status)\",\"startedAt\"")
            try old.write(toFile: "\(runs)/\(id)/run.json", atomically: true, encoding: .utf8)
        }
        let dry = try await CLI.run(["runs", "prune", "--max-age", "30d", "--dry-run"], in: s.path)
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.hasPrefix("would remove 20200101-000000-000aaaaaa\nwould remove 1 run ("), dry.stdout)
        XCTAssertEqual(ids().count, 5)
        let aged = try await CLI.run(["runs", "prune", "--max-age", "30d"], in: s.path)
        XCTAssertEqual(aged.status, 0, aged.stderr)
        XCTAssertFalse(ids().contains("20200101-000000-000aaaaaa"))
        XCTAssertTrue(ids().contains("20200101-000001-000bbbbbb"), "a blocked run waits for resume")
        let kept = try await CLI.run(["runs", "prune", "--keep", "1"], in: s.path)
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertEqual(ids(), ["20200101-000001-000bbbbbb", newest])
        let bad = try await CLI.run(["runs", "prune"], in: s.path)
        XCTAssertEqual(bad.status, 2)
    }
}
