import Foundation
import ShipgateCache
import ShipgateExpressions
import ShipgateModel
import ShipgatePlanning
import XCTest

@testable import ShipgateEngine

/// The workflow runtime's pure parts in-process: workflow commands, shells, versions of the
/// setup actions, GitHub's `hashFiles` order, and when a job starts by its `if:`.
final class WorkflowRuntimeTests: XCTestCase {
    func testWorkflowCommandsParseAsTheRunnerReadsThem() {
        let table: [(String, WorkflowCommand?)] = [
            (
                "::error file=a.py,line=3,col=5::bad%0Athing",
                WorkflowCommand(name: "error", properties: ["file": "a.py", "line": "3", "col": "5"], data: "bad\nthing")
            ),
            ("  ::warning::indented", WorkflowCommand(name: "warning", properties: [:], data: "indented")),
            ("::notice title=a%3Ab%2Cc::x", WorkflowCommand(name: "notice", properties: ["title": "a:b,c"], data: "x")),
            ("::add-mask::s3cr%25t\r", WorkflowCommand(name: "add-mask", properties: [:], data: "s3cr%t")),
            ("::endgroup::", WorkflowCommand(name: "endgroup", properties: [:], data: "")),
            (":: not a command", nil), ("::missing-end", nil), ("echo ::error::x", nil), ("::bad!name::x", nil),
        ]
        for (line, expected) in table { XCTAssertEqual(WorkflowCommand.parse(Substring(line)), expected, line) }
    }

    func testCommandStateMasksStopsAndHides() {
        var state = WorkflowCommandState()
        XCTAssertEqual(state.consume("::add-mask::abc"), .hidden)
        XCTAssertEqual(state.masks, ["abc"])
        XCTAssertEqual(state.consume("::debug::d"), .hidden)
        XCTAssertEqual(state.consume("::stop-commands::tok"), .hidden)
        XCTAssertEqual(state.consume("::error::while stopped"), .line("::error::while stopped"))
        XCTAssertEqual(state.consume("::tok::"), .hidden)
        XCTAssertEqual(state.consume("::error file=f,line=2::x"), .annotation(level: "error", text: "f:2: x"))
        XCTAssertEqual(state.consume("::set-output name=k::v"), .hidden)
        XCTAssertEqual(state.outputs, ["k": "v"])
        XCTAssertEqual(state.consume("::set-env name=A::b"), .hidden)
        XCTAssertEqual(state.warnings.count, 2)
        XCTAssertEqual(state.consume("::group::Title"), .line("▸ Title"))
        var debugging = WorkflowCommandState()
        debugging.debug = true
        XCTAssertEqual(debugging.consume("::debug::d"), .line("##[debug]d"))
    }

    func testShellsAreGitHubsTemplates() {
        XCTAssertEqual(JobExecutor.shellCommand(nil, hasBash: true)?.argv, ["bash", "-e", "{0}"])
        XCTAssertEqual(JobExecutor.shellCommand(nil, hasBash: false)?.argv, ["sh", "-e", "{0}"])
        XCTAssertEqual(JobExecutor.shellCommand("bash", hasBash: true)?.argv, ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"])
        XCTAssertEqual(JobExecutor.shellCommand("sh", hasBash: true)?.argv, ["sh", "-e", "{0}"])
        XCTAssertEqual(JobExecutor.shellCommand("python", hasBash: true)?.ext, "py")
        XCTAssertEqual(JobExecutor.shellCommand("perl {0} --x", hasBash: true)?.argv, ["perl", "{0}", "--x"])
        XCTAssertNil(JobExecutor.shellCommand("cmd", hasBash: true))
        XCTAssertNil(JobExecutor.shellCommand("perl -e", hasBash: true), "a custom shell needs {0}")
    }

    func testSetupVersionsBecomeToolchainPrefixes() {
        let table: [(String?, String, [String])] = [
            ("3.12", "python", ["3.12"]), ("3.x", "python", ["3"]), (">=3.9", "python", ["3"]), ("3.12.4", "python", ["3.12.4"]),
            (nil, "python", ["3"]), ("pypy3.10", "python", []), ("v20", "node", ["20"]), ("20.x", "node", ["20"]),
            ("lts/*", "node", ["24", "22", "20", "18"]), ("^1.22", "go", ["1"]), ("1.22.x", "go", ["1.22"]), ("stable", "go", ["1"]),
        ]
        for (spec, tool, expected) in table { XCTAssertEqual(JobExecutor.versionPrefixes(spec, tool: tool), expected, "\(spec ?? "nil") \(tool)") }
        XCTAssertEqual(JobExecutor.versionFromFile("module x\n\ngo 1.22\ntoolchain go1.22.3\n", tool: "go", name: "go.mod"), "1.22.3")
        XCTAssertEqual(JobExecutor.versionFromFile("module x\ngo 1.21\n", tool: "go", name: "go.mod"), "1.21")
        XCTAssertEqual(JobExecutor.versionFromFile("# pinned\n3.12\n", tool: "python", name: ".python-version"), "3.12")
        XCTAssertEqual(JobExecutor.versionFromFile("nodejs 20.11.0\npython 3.11.2\n", tool: "python", name: ".tool-versions"), "3.11.2")
    }

    /// GitHub hashes the matched files depth first, each directory's entries in byte order:
    /// `a/b.txt` (inside `a`) comes before `a-b.txt`, and hidden files match too.
    func testHashFilesOrderAndAlgorithm() throws {
        let root = NSTemporaryDirectory() + "hash-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/a", withIntermediateDirectories: true)
        for (path, text) in [("a/b.txt", "1"), ("a-b.txt", "2"), (".hidden.txt", "3"), ("B.txt", "4"), ("skip.md", "5")] {
            try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8)
        }
        let files = WorkflowHashFiles.match(["**/*.txt"], root: root).map { String($0.dropFirst(root.count + 1)) }
        XCTAssertEqual(files, [".hidden.txt", "B.txt", "a/b.txt", "a-b.txt"])
        XCTAssertEqual(WorkflowHashFiles.match(["**/*.txt", "!a/**"], root: root).count, 3)
        XCTAssertEqual(try WorkflowHashFiles.hash(["nothing/*"], root: root), "")
        // sha256(sha256("1") ‖ sha256("2")) for two files, in order.
        let one = Hex.bytes("6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b")!
        let two = Hex.bytes("d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35")!
        let expected = Digest.sha256(one + two)
        XCTAssertEqual(try WorkflowHashFiles.hash(["a/b.txt", "a-b.txt"], root: root), expected)
    }

    private func job(_ id: String, needs: [String], condition: String = "") -> (PlannedJob, GitHubJob) {
        var github = GitHubJob()
        github.condition = condition
        var job = PlannedJob(
            id: id, job: id, stage: nil, needs: needs, matrix: [], status: .run, reason: nil, timeout: .minutes(1), retry: .none, continueOnError: false,
            steps: [], location: SourceLocation(file: "w.yml", line: 1, column: 1))
        job.github = github
        return (job, github)
    }

    private func result(_ id: String, _ status: JobStatus, reason: String? = nil, continueOnError: Bool = false) -> JobResult {
        var r = JobResult(id: id, status: status, reason: reason, continueOnError: continueOnError)
        r.outputs = ["k": id]
        return r
    }

    func testJobConditionsDecideOnNeedsAndAncestors() {
        let results = [
            "ok": result("ok", .success), "bad": result("bad", .failed), "tolerated": result("tolerated", .failed, continueOnError: true),
            "mid": result("mid", .skipped), "t (os=windows)": result("t (os=windows)", .skipped, reason: "refused: windows"),
            "t (os=linux)": result("t (os=linux)", .success),
        ]
        func decide(_ needs: [String], _ condition: String = "", ancestors: Set<String> = [], cancelled: Bool = false) -> WorkflowJobCondition.Decision {
            let (j, g) = job("x", needs: needs, condition: condition)
            return WorkflowJobCondition.decide(j, github: g, results: results, ancestors: ancestors.union(needs), runtime: nil, cancelled: cancelled)
        }
        XCTAssertEqual(decide(["ok"]), .run)
        XCTAssertEqual(decide(["tolerated"]), .run, "continue-on-error: the need's result is success")
        XCTAssertEqual(decide(["bad"]), .skip("needs did not succeed: bad"))
        XCTAssertEqual(decide(["bad"], "failure()"), .run)
        XCTAssertEqual(decide(["mid"], "failure()", ancestors: ["bad"]), .run, "failure() looks at every ancestor")
        XCTAssertEqual(decide(["mid"], "always()"), .run)
        XCTAssertEqual(decide(["ok"], "needs.ok.outputs.k == 'ok'"), .run)
        XCTAssertEqual(decide(["ok"], "needs.ok.result != 'success'"), .skip("`if: needs.ok.result != 'success'` is false"))
        XCTAssertEqual(decide(["t (os=windows)", "t (os=linux)"]), .run, "a variant refused here does not block")
        XCTAssertEqual(decide(["t (os=windows)"]), .skip("needs t (os=windows), which this host does not run"))
        XCTAssertEqual(decide(["ok"], cancelled: true), .skip("the run was cancelled"))
        XCTAssertEqual(decide(["ok"], "cancelled()", cancelled: true), .run)
        if case .fail(let why) = decide(["ok"], "nope(") { XCTAssertTrue(why.contains("nope("), why) } else { XCTFail("a broken if: fails the job") }
    }

    func testNeedsContextAggregatesMatrixVariants() {
        let (j, _) = job("x", needs: ["t (n=1)", "t (n=2)"])
        let results = ["t (n=1)": result("t (n=1)", .success), "t (n=2)": result("t (n=2)", .failed)]
        let needs = WorkflowRuntime.needs(j, results: results)
        guard case .object(let o) = needs, case .object(let t)? = o["t"] else { return XCTFail("needs.t") }
        XCTAssertEqual(t["result"]?.text, "failure")
    }
}

extension WorkflowRuntimeTests {
    /// A `\r\n` line end is one Character in Swift; the file commands split on it too, so a
    /// CRLF file cannot smuggle its next line into a value.
    func testFileCommandsSplitCRLFLines() {
        let (values, problems) = OutputsFile.parse("A=one\r\nB=two\r\nM<<EOF\r\nx\r\ny\r\nEOF\r\n")
        XCTAssertEqual(values, ["A": "one", "B": "two", "M": "x\ny"])
        XCTAssertEqual(problems, [])
    }

    func testReservedEnvironmentNames() {
        for name in ["GITHUB_SHA", "GITHUB_OUTPUT", "RUNNER_TEMP", "NODE_OPTIONS", "CI", "SHIPGATE_RUN_ID"] {
            XCTAssertTrue(WorkflowFileCommands.reserved(name), name)
        }
        for name in ["PATH_EXTRA", "MY_GITHUB_THING", "FOO", "github_lower"] { XCTAssertFalse(WorkflowFileCommands.reserved(name), name) }
    }

    func testArtifactNames() {
        for name in ["dist", "python-package-distributions", "a.b", "..x"] { XCTAssertTrue(JobExecutor.isArtifactName(name), name) }
        for name in ["", ".", "..", "a/b", "a:b", "a\nb", "a*"] { XCTAssertFalse(JobExecutor.isArtifactName(name), name) }
    }
}
