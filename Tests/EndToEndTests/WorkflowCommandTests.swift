import Foundation
import XCTest

/// What the binary does with a GitHub workflow today: `validate` checks it, `plan` and `run`
/// refuse it with a message that says so (instead of reporting it as a broken pipeline).
final class WorkflowCommandTests: XCTestCase {
    func testValidateChecksAWorkflowAndRunRefusesIt() async throws {
        let root = NSTemporaryDirectory() + "wf-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/.github/workflows", withIntermediateDirectories: true)
        let file = ".github/workflows/ci.yml"
        try """
        on: [push]
        jobs:
          test:
            runs-on: ubuntu-latest
            strategy: { matrix: { python: ["3.11", "3.12"] } }
            steps:
              - uses: actions/checkout@v4
              - run: echo ${{ matrix.python }}
        """.write(toFile: root + "/" + file, atomically: true, encoding: .utf8)
        let valid = try await CLI.run(["validate", file], in: root)
        XCTAssertEqual(valid.status, 0, valid.stderr)
        XCTAssertEqual(
            valid.stdout, "\(file): valid GitHub Actions workflow (1 job, 2 with the matrix variants expanded, on push); shipgate does not run workflows yet\n")
        for command in ["plan", "run"] {
            let refused = try await CLI.run([command, file], in: root)
            XCTAssertEqual(refused.status, 2, command)
            XCTAssertTrue(refused.stderr.contains("is a GitHub Actions workflow"), refused.stderr)
            XCTAssertFalse(refused.stderr.contains("unknown key"), "not reported as a broken pipeline: \(refused.stderr)")
        }
        try "on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix. }}\n".write(
            toFile: root + "/" + file, atomically: true, encoding: .utf8)
        let invalid = try await CLI.run(["validate", file], in: root)
        XCTAssertEqual(invalid.status, 2)
        XCTAssertTrue(invalid.stderr.contains("\(file):6:31: error: invalid expression: expected a property name after `.`"), invalid.stderr)
    }
}
