import Foundation
import ShipgateLoading
import ShipgateModel
import ShipgateWorkflow
import XCTest

/// The GitHub workflow front end's checks: every problem of a workflow in one pass, located.
final class WorkflowLoaderTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "workflows-\(UUID().uuidString)/.github/workflows"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }

    private func load(_ yaml: String, name: String = "ci.yml") throws -> WorkflowLoader.Result {
        let path = dir + "/" + name
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertTrue(WorkflowLoader.isWorkflow(path: path))
        return WorkflowLoader.load(path: path)
    }

    /// A Python library's CI as such projects write it.
    func testARealisticWorkflowIsValidWithItsVariants() throws {
        let result = try load(
            """
            name: CI
            on:
              push:
                branches: [main]
              pull_request:
            concurrency:
              group: ${{ github.workflow }}-${{ github.ref }}
              cancel-in-progress: true
            jobs:
              lint:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
                  - uses: actions/setup-python@v5
                    with: { python-version: "3.12" }
                  - run: pip install ruff && ruff check .
              test:
                needs: lint
                runs-on: ${{ matrix.os }}
                strategy:
                  fail-fast: false
                  matrix:
                    os: [ubuntu-latest, macos-latest]
                    python: ["3.10", "3.11", "3.12"]
                    exclude:
                      - os: macos-latest
                        python: "3.10"
                    include:
                      - os: ubuntu-latest
                        python: "3.13"
                        experimental: true
                steps:
                  - uses: actions/checkout@v4
                  - id: deps
                    run: echo "key=${{ hashFiles('**/requirements*.txt') }}" >> "$GITHUB_OUTPUT"
                  - run: pytest -q
                    continue-on-error: ${{ matrix.experimental == true }}
                  - if: failure() && steps.deps.outputs.key != ''
                    run: echo "tests failed on ${{ matrix.os }} / ${{ matrix.python }}"
              publish:
                needs: [lint, test]
                if: github.event_name == 'push' && startsWith(github.ref, 'refs/tags/')
                uses: ./.github/workflows/publish.yml
                secrets: inherit
            """)
        XCTAssertEqual(result.diagnostics, [])
        let workflow = try XCTUnwrap(result.workflow)
        XCTAssertEqual(workflow.events, ["push", "pull_request"])
        XCTAssertEqual(workflow.jobs.map(\.id), ["lint", "test", "publish"])
        let test = workflow.jobs[1]
        XCTAssertEqual(test.variants?.count, 6, "2 × 3, one excluded, one added by include")
        XCTAssertEqual(test.variants?.last?["experimental"]?.text, "true")
        XCTAssertEqual(test.variants?.first?.jobName("test"), "test (ubuntu-latest, 3.10)")
        XCTAssertEqual(workflow.jobs[2].uses, "./.github/workflows/publish.yml")
        XCTAssertEqual(
            test.steps.map(\.action),
            [
                .uses("actions/checkout@v4"), .run("echo \"key=${{ hashFiles('**/requirements*.txt') }}\" >> \"$GITHUB_OUTPUT\""), .run("pytest -q"),
                .run("echo \"tests failed on ${{ matrix.os }} / ${{ matrix.python }}\""),
            ])
    }

    func testEveryProblemIsReportedWithItsLocation() throws {
        let result = try load(
            """
            on: push
            jobs:
              lint:
                runs-on: ubuntu-latest
                steps:
                  - run: echo ${{ matrx.os }}
                  - id: a
                    run: echo
                  - id: a
                    run: echo ${{ github.sha == }}
              test:
                needs: [lint, nope]
                runs-on: ubuntu-latest
                if: github.event_name = 'push'
                strategy:
                  matrix:
                    python: [3.10]
                    exclude: [{arch: x64}]
                steps:
                  - name: nothing
              loop:
                needs: loop
                runs-on: ubuntu-latest
                timeout: 5
                steps:
                  - run: echo "${{ contains('a') }}"
            """)
        XCTAssertNil(result.workflow)
        let lines = result.diagnostics.map { "\($0.location.map { "\($0.line):\($0.column)" } ?? "-") \($0.message)" }
        XCTAssertEqual(
            lines,
            [
                "6:14 unrecognized named-value `matrx` in an expression",
                "9:13 step id `a` is used twice in job `lint`",
                "10:37 invalid expression: expected a value, found the end of the expression",
                "11:3 job `test` needs `nope`, which is not a job of this workflow",
                "14:27 invalid `if` of job `test`: unexpected character `=`",
                "17:9 job `test`: matrix `exclude` key `arch` is not a key of the matrix (python)",
                "20:9 a step has neither `run` nor `uses`",
                "21:3 `needs` form a cycle: loop -> loop",
                "24:5 unknown key `timeout` in job `loop`",
                "26:24 invalid expression: `contains` takes 2 arguments, got 1",
            ])
        XCTAssertEqual(result.diagnostics.first { $0.message.contains("matrx") }?.hint, "did you mean `matrix`?")
    }

    func testPlainScalarsInAMatrixHaveYAMLTypesAsOnGitHub() throws {
        let result = try load(
            """
            on: push
            jobs:
              t:
                runs-on: ubuntu-latest
                strategy: { matrix: { python: [3.10, "3.10"], debug: [false] } }
                steps: [{ run: "true" }]
            """)
        let variants = try XCTUnwrap(result.workflow?.jobs.first?.variants)
        XCTAssertEqual(variants.map { $0["python"]?.text }, ["3.1", "3.10"], "an unquoted 3.10 is the number 3.1")
        XCTAssertEqual(variants.first?["debug"]?.text, "false")
    }

    func testAMatrixKeyThatDoesNotExistIsAWarning() throws {
        let result = try load(
            """
            on: push
            jobs:
              t:
                runs-on: ubuntu-latest
                strategy: { matrix: { python: ["3.12"] } }
                steps:
                  - run: echo ${{ matrix.pyhton }} ${{ matrix.python }}
                    if: matrix.pyhton != ''
                  - run: echo matrix.words are not expressions
                  - run: "true"
                    if: ${{ matrix.oss == 'a' }}
              plain:
                runs-on: ubuntu-latest
                steps: [{ run: "echo ${{ matrix.os }}" }]
              dynamic:
                runs-on: ubuntu-latest
                strategy: { matrix: "${{ fromJSON('{}') }}" }
                steps: [{ run: "echo ${{ matrix.anything }}" }]
            """)
        XCTAssertNotNil(result.workflow, "warnings only")
        XCTAssertEqual(
            result.diagnostics.map { "\($0.severity) \($0.location!.line) \($0.message) \($0.hint ?? "")" },
            [
                "warning 7 `matrix.pyhton` is not a key of the matrix of job `t`; it is empty did you mean `python`?",
                "warning 8 `matrix.pyhton` is not a key of the matrix of job `t`; it is empty did you mean `python`?",
                "warning 11 `matrix.oss` is not a key of the matrix of job `t`; it is empty ",
                "warning 14 job `plain` has no matrix; `matrix.os` is empty ",
            ])
    }

    func testAWorkflowWithoutRunsOnIsStillCheckedAsAWorkflow() throws {
        let result = try load("on: push\njobs:\n  t:\n    runs-onn: ubuntu-latest\n    steps: [{ run: 'true' }]\n")
        XCTAssertEqual(result.diagnostics.map(\.message), ["job `t` has no `runs-on`", "unknown key `runs-onn` in job `t`"])
    }

    func testAShipgatePipelineIsNotAWorkflow() throws {
        let path = dir + "/../../pipeline.yml"
        try "name: p\njobs:\n  a:\n    steps: [{run: 'true'}]\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertFalse(WorkflowLoader.isWorkflow(path: path))
    }
}
