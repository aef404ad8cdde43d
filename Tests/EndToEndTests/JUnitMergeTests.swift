import Foundation
import XCTest

/// `junit: [PATTERN]` through the binary with a real pytest: counts in the output, the run
/// record and the console, and the cases merged into `--junit`.
final class JUnitMergeTests: XCTestCase {
    func testPytestReportsAreCountedShownAndMergedIntoTheRunsJUnit() async throws {
        let probe = try await CLI.shell("python3 -m pytest --version >/dev/null 2>&1 && echo yes || echo no", in: "/")
        try XCTSkipUnless(probe.contains("yes"), "pytest is not installed (python3 -m pytest)")
        let repo = try await GateRepo(
            pipeline: """
                name: py
                jobs:
                  test:
                    isolation: { workspace: private }
                    junit: ["reports/*.xml"]
                    steps:
                      - run: python3 -m pytest -q -p no:cacheprovider --junitxml=reports/unit.xml tests

                """)
        try await repo.sh("mkdir -p tests")
        try repo.write(
            """
            import pytest
            def test_one(): assert 1 + 1 == 2
            def test_two(): assert "a" * 2 == "aa"
            def test_broken(): assert 2 * 2 == 5, "arithmetic"
            @pytest.mark.skip(reason="not here")
            def test_later(): pass

            """, to: "tests/test_math.py")
        try await repo.commitAll("tests")
        let junit = repo.path + "/run.junit.xml"
        let out = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain", "--junit", junit])
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("[test] tests: 2 passed, 1 failed, 1 skipped (reports/unit.xml)"), out.stdout)
        XCTAssertTrue(out.stdout.contains("✗ tests.test_math.test_broken: AssertionError: arithmetic"), out.stdout)

        let merged = try String(contentsOfFile: junit, encoding: .utf8)
        XCTAssertTrue(merged.contains(#"<testsuites name="py" tests="5" failures="2" errors="0" skipped="1""#), merged)
        XCTAssertTrue(merged.contains(#"<testsuite name="py / test" tests="4" failures="1" errors="0" skipped="1">"#), merged)
        XCTAssertTrue(merged.contains(#"<testcase classname="tests.test_math" name="test_broken""#), merged)

        let runID = try XCTUnwrap(GateRepo.runID(out.stdout + out.stderr))
        let record = try String(contentsOfFile: repo.path + "/.shipgate/runs/\(runID)/run.json", encoding: .utf8)
        XCTAssertTrue(record.contains(#""tests":{"#), record)

        // A report left from an earlier run is not this run's: the next run that writes none says so.
        try repo.write(
            repo.read("pipelines/deploy.yml").replacingOccurrences(of: "python3 -m pytest", with: "true || python3 -m pytest")
                .replacingOccurrences(of: "isolation: { workspace: private }", with: "isolation: { workspace: shared }"),
            to: "pipelines/deploy.yml")
        try await repo.sh("mkdir -p reports && cp run.junit.xml reports/old.xml && touch -d '2 hours ago' reports/old.xml")
        let stale = try await repo.ok(["run", "pipelines/deploy.yml", "--output", "plain"])
        XCTAssertTrue(stale.stdout.contains("no report read; 1 matching file was not written by this run"), stale.stdout)
    }
}
