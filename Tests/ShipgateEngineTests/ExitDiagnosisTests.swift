import ShipgateEngine
import XCTest

/// The shells' "cannot run this" messages, as dash, bash, zsh and env print them on this machine.
final class ExitDiagnosisTests: XCTestCase {
    func testNotFoundMessages() {
        for line in [
            "sh: 1: black: not found", "/bin/sh: 3: black: not found", "sh: 1: exec: black: not found", "bash: black: command not found",
            "bash: line 1: black: command not found", "zsh:1: command not found: black", "env: ‘black’: No such file or directory",
        ] {
            XCTAssertEqual(ExitDiagnosis.parse(line), .init(kind: .notFound, command: "black"), line)
        }
        XCTAssertEqual(ExitDiagnosis.parse("sh: 1: ./nosuch.sh: not found")?.command, "./nosuch.sh")
        XCTAssertEqual(ExitDiagnosis.explain(code: 127, ExitDiagnosis.parse("sh: 1: black: not found")), "command not found: black")
    }

    func testNotExecutableMessages() {
        XCTAssertEqual(ExitDiagnosis.parse("sh: 1: ./deploy.sh: Permission denied"), .init(kind: .notExecutable("Permission denied"), command: "./deploy.sh"))
        XCTAssertEqual(
            ExitDiagnosis.parse("bash: ./tool: cannot execute binary file: Exec format error"),
            .init(kind: .notExecutable("Exec format error"), command: "./tool"))
        XCTAssertEqual(ExitDiagnosis.explain(code: 126, ExitDiagnosis.parse("sh: 1: ./x: Permission denied")), "not executable: ./x (Permission denied)")
    }

    func testOtherLinesAndMismatchedCodesSayNothing() {
        for line in ["black: not found", "error: file not found", "pytest: 3 failed", "sh: 1:", "ash: black"] {
            XCTAssertNil(ExitDiagnosis.parse(line), line)
        }
        XCTAssertNil(ExitDiagnosis.explain(code: 1, ExitDiagnosis.parse("sh: 1: black: not found")))
        XCTAssertNil(ExitDiagnosis.explain(code: 127, nil))
    }
}
