import Foundation
import XCTest

/// `after:`, stage order and the step environment (`$VAR` in `env`, `$SHIPGATE_ENV`,
/// `$SHIPGATE_PATH`) through the built binary, with real processes.
final class OrderingEnvironmentTests: XCTestCase {
    /// Job id → status in the newest run's `run.json`.
    static func statuses(_ workspace: String) throws -> [String: String] {
        let runs = workspace + "/.shipgate/runs"
        let last = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: runs).filter { !$0.hasPrefix(".") }.sorted().last)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(runs)/\(last)/run.json"))) as? [String: Any]
        let jobs = try XCTUnwrap(record?["jobs"] as? [[String: Any]])
        return Dictionary(jobs.compactMap { j in (j["id"] as? String).map { ($0, j["status"] as? String ?? "") } }, uniquingKeysWith: { a, _ in a })
    }

    static func write(_ files: [String: String], in root: String) throws {
        for (path, text) in files {
            let url = URL(fileURLWithPath: root).appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
    }

    /// `after:` waits for a job whatever its result and keeps its key out; stage order still
    /// gates on success but does not couple keys either.
    func testAfterOrdersWithoutCouplingCacheKeys() async throws {
        let s = try Scratch(fixture: "basic")
        try Self.write(
            [
                "pipeline.yml": """
                name: after
                stages: [test, build]
                jobs:
                  unit:
                    stage: test
                    inputs: ["tests/**"]
                    steps:
                      - run: cat tests/t.txt; test -z "$FAIL_UNIT"
                  lint:
                    inputs: ["lint.txt"]
                    steps:
                      - run: rm -f lint.done; sleep 1; echo ended > lint.done; test -z "$FAIL_LINT"
                  wheel:
                    stage: build
                    inputs: ["src/**"]
                    outputs: ["dist/wheel.txt"]
                    steps:
                      - run: mkdir -p dist && cat src/a.txt > dist/wheel.txt
                  report:
                    after: [lint]
                    inputs: ["src/**"]
                    steps:
                      - run: cat lint.done
                """,
                "tests/t.txt": "t1\n", "lint.txt": "l1\n", "src/a.txt": "a\n",
            ], in: s.path)
        let plan = try await CLI.run(["plan", "pipeline.yml"], in: s.path)
        XCTAssertTrue(plan.stdout.contains("needs nothing · after lint"), plan.stdout)
        let export = try await CLI.run(["export", "github", "pipeline.yml"], in: s.path)
        XCTAssertTrue(
            export.stdout.contains(
                "  report:\n    name: \"report\"\n    runs-on: \"ubuntu-latest\"\n    needs: [\"shipgate-build\", \"lint\"]\n    if: ${{ !cancelled() && needs.shipgate-build.result == 'success' }}\n"
            ),
            export.stdout)

        // The earlier job fails: the later one still runs, after it ended.
        let first = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path, environment: ["FAIL_LINT": "1"])
        XCTAssertEqual(first.status, 1, first.stdout + first.stderr)
        XCTAssertEqual(try Self.statuses(s.path), ["unit": "success", "lint": "failed", "wheel": "success", "report": "success"])
        XCTAssertTrue(first.stdout.contains("[report] ended"), "report started after lint ended:\n\(first.stdout)")

        let second = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path)
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertEqual(try Self.statuses(s.path), ["unit": "cached", "lint": "success", "wheel": "cached", "report": "cached"])

        // Editing an input of the earlier jobs invalidates neither later job.
        try Self.write(["tests/t.txt": "t2\n", "lint.txt": "l2\n"], in: s.path)
        let third = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path)
        XCTAssertEqual(third.status, 0, third.stdout + third.stderr)
        XCTAssertEqual(try Self.statuses(s.path), ["unit": "success", "lint": "success", "wheel": "cached", "report": "cached"])

        // Stage order still gates: a failed earlier stage holds the later one back.
        try Self.write(["tests/t.txt": "t3\n"], in: s.path)
        let fourth = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path, environment: ["FAIL_UNIT": "1"])
        XCTAssertEqual(fourth.status, 1)
        XCTAssertEqual(try Self.statuses(s.path)["wheel"], "skipped")
        XCTAssertTrue(fourth.stdout.contains("[wheel] - skipped: needs failed: unit"), fourth.stdout)
    }

    /// `$VAR` and `${VAR}` in `env` values expand from the OS environment at every level.
    func testEnvValuesExpandTheOSEnvironment() async throws {
        let s = try Scratch(fixture: "basic")
        let home = s.path + "/home"
        try Self.write(
            [
                "home/bin/greet": "#!/bin/sh\necho \"hello from $HOME/bin\"\n",
                "pipeline.yml": """
                name: env
                env: { PATH: "$HOME/bin:$PATH" }
                jobs:
                  use:
                    env: { WHERE: "${HOME}/data", PRICE: "5$$" }
                    steps:
                      - env: { USER_LINE: "user=$SHIPGATE_TEST_USER, unset=[$SHIPGATE_TEST_UNSET]" }
                        run: greet; echo "$WHERE $PRICE $USER_LINE"
                """,
            ], in: s.path)
        chmod(home + "/bin/greet", 0o755)
        let env = ["HOME": home, "SHIPGATE_TEST_USER": "ada"]
        let plan = try await CLI.run(["plan", "pipeline.yml"], in: s.path, environment: env)
        XCTAssertEqual(plan.status, 0, plan.stderr)
        let out = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path, environment: env)
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("[use] hello from \(home)/bin\n"), out.stdout)
        XCTAssertTrue(out.stdout.contains("[use] \(home)/data 5$ user=ada, unset=[]\n"), out.stdout)

        try "name: bad\nenv: { PATH: \"${HOME/bin:$PATH\" }\njobs: {a: {steps: [{run: x}]}}\n".write(
            toFile: s.path + "/bad.yml", atomically: true, encoding: .utf8)
        let bad = try await CLI.run(["validate", "bad.yml"], in: s.path)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("bad.yml:2:15: error: unterminated `${` (missing `}`)"), bad.stderr)
    }

    /// What a step writes to `$SHIPGATE_PATH` and `$SHIPGATE_ENV` reaches the later steps of its
    /// job (not other jobs); shipgate's variables and secrets cannot be overridden.
    func testShipgateEnvAndPathFilesReachLaterSteps() async throws {
        let s = try Scratch(fixture: "basic")
        try Self.write(
            [
                "pipeline.yml": #"""
                name: files
                secrets: [TOKEN]
                env: { GREETING: "from env" }
                jobs:
                  setup:
                    steps:
                      - run: |
                          mkdir -p tools && printf '#!/bin/sh\necho tool ran\n' > tools/mytool && chmod +x tools/mytool
                          echo "$SHIPGATE_WORKSPACE/tools" >> "$SHIPGATE_PATH"
                          echo "GREETING=from file" >> "$SHIPGATE_ENV"
                          printf 'NOTES<<EOF\nline one\nline two\nEOF\n' >> "$SHIPGATE_ENV"
                          echo "SHIPGATE_JOB=hacked" >> "$SHIPGATE_ENV"
                          echo "TOKEN=stolen" >> "$SHIPGATE_ENV"
                          echo "1BAD=x" >> "$SHIPGATE_ENV"
                      - run: |
                          mytool
                          echo "$GREETING / $NOTES / job=$SHIPGATE_JOB token=${TOKEN:-unset}"
                          test ! -s "$SHIPGATE_ENV" && test ! -s "$SHIPGATE_PATH" && echo "fresh files"
                  other:
                    needs: [setup]
                    steps:
                      - run: echo "other sees [$GREETING]"; command -v mytool || echo "no mytool"
                """#
            ], in: s.path)
        let out = try await CLI.run(["run", "pipeline.yml", "--jobs", "1", "--output", "plain"], in: s.path, environment: ["TOKEN": "s3cr3t-value"])
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        for line in [
            "[setup] warning: $SHIPGATE_ENV invalid variable name `1BAD`",
            "[setup] warning: $SHIPGATE_ENV: `SHIPGATE_JOB` is set by shipgate or is a secret; not overridden",
            "[setup] warning: $SHIPGATE_ENV: `TOKEN` is set by shipgate or is a secret; not overridden",
            "[setup] tool ran",
            "[setup] from file / line one\n[setup] line two / job=setup token=",
            "[setup] fresh files",
            "[other] other sees [from env]",
            "[other] no mytool",
        ] {
            XCTAssertTrue(out.stdout.contains(line), "missing \(line):\n\(out.stdout)")
        }
        XCTAssertFalse(out.stdout.contains("stolen"), out.stdout)
    }

    /// `cache-key-extra` commands run with the job's `env`: each matrix variant keys on its own
    /// interpreter, found through an expanded `PATH`.
    func testCacheKeyExtraRunsWithTheJobEnvironment() async throws {
        let s = try Scratch(fixture: "basic")
        let home = s.path + "/home"
        try Self.write(
            [
                "home/bin/fakepy3.11": "#!/bin/sh\necho Python 3.11.9\n",
                "home/bin/fakepy3.12": "#!/bin/sh\necho Python 3.12.1\n",
                "src/a.py": "print()\n",
                "pipeline.yml": """
                name: extra
                jobs:
                  unit:
                    matrix: { python: ["3.11", "3.12"] }
                    env: { PY: "fakepy${{ matrix.python }}", PATH: "$HOME/bin:$PATH" }
                    inputs: ["src/**"]
                    cache-key-extra: ["$PY --version"]
                    steps:
                      - run: $PY --version
                """,
            ], in: s.path)
        for name in ["fakepy3.11", "fakepy3.12"] { chmod(home + "/bin/" + name, 0o755) }
        let env = ["HOME": home]
        let first = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path, environment: env)
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertEqual(try Self.statuses(s.path), ["unit (python=3.11)": "success", "unit (python=3.12)": "success"])

        // A new patch release of one interpreter: only its variant runs again.
        try Self.write(["home/bin/fakepy3.12": "#!/bin/sh\necho Python 3.12.2\n"], in: s.path)
        chmod(home + "/bin/fakepy3.12", 0o755)
        let plan = try await CLI.run(["plan", "pipeline.yml"], in: s.path, environment: env)
        XCTAssertTrue(plan.stdout.contains("cached unit (python=3.11)"), plan.stdout)
        let second = try await CLI.run(["run", "pipeline.yml", "--output", "plain"], in: s.path, environment: env)
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertEqual(try Self.statuses(s.path), ["unit (python=3.11)": "cached", "unit (python=3.12)": "success"])
        let explain = try await CLI.run(["explain", "last", "unit (python=3.12)"], in: s.path)
        XCTAssertTrue(explain.stdout.contains("$PY --version"), explain.stdout)
    }
}
