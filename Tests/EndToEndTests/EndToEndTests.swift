import Foundation
import XCTest

/// The built binary against `Fixtures/<scenario>/`, with golden output and exit codes.
final class EndToEndTests: XCTestCase {
    func testValidateReportsEveryProblemWithLocations() async throws {
        let s = try Scratch(fixture: "invalid")
        let out = try await CLI.run(["validate", "pipeline.yml"], in: s.path)
        XCTAssertEqual(out.status, 2)
        XCTAssertEqual(out.stdout, "")
        CLI.assertGolden(out.stderr, "invalid", "validate.stderr")
    }

    func testValidateAcceptsAValidPipeline() async throws {
        let s = try Scratch(fixture: "basic")
        let out = try await CLI.run(["validate", "pipeline.yml"], in: s.path)
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertEqual(out.stdout, "pipeline.yml: valid (5 jobs in 3 waves)\n")
    }

    func testPlanTextAndJSON() async throws {
        let s = try Scratch(fixture: "basic")
        let text = try await CLI.run(["plan", "pipeline.yml"], in: s.path)
        XCTAssertEqual(text.status, 0, text.stderr)
        CLI.assertGolden(text.stdout, "basic", "plan.txt")
        let json = try await CLI.run(["plan", "pipeline.yml", "--json"], in: s.path)
        XCTAssertEqual(json.status, 0, json.stderr)
        CLI.assertGolden(json.stdout, "basic", "plan.json")
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)))
        let selected = try await CLI.run(["plan", "pipeline.yml", "--job", "package", "--json"], in: s.path)
        CLI.assertGolden(selected.stdout, "basic", "plan-package.json")
        // A plan spawns nothing and writes nothing.
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.path + "/.shipgate"))
    }

    func testGraph() async throws {
        let s = try Scratch(fixture: "basic")
        let mermaid = try await CLI.run(["graph", "pipeline.yml"], in: s.path)
        CLI.assertGolden(mermaid.stdout, "basic", "graph.mmd")
        let dot = try await CLI.run(["graph", "pipeline.yml", "--format", "dot"], in: s.path)
        CLI.assertGolden(dot.stdout, "basic", "graph.dot")
        let bad = try await CLI.run(["graph", "pipeline.yml", "--format", "svg"], in: s.path)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("The value 'svg' is invalid for '--format <format>'"), bad.stderr)
    }

    func testRunPlainAndJSONEvents() async throws {
        let s = try Scratch(fixture: "basic")
        let plain = try await CLI.run(["run", "pipeline.yml", "--jobs", "1", "--output", "plain"], in: s.path)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        CLI.assertGolden(CLI.normalize(plain.stdout, workspace: s.path), "basic", "run.plain")
        let json = try await CLI.run(["run", "pipeline.yml", "--jobs", "1", "--output", "json"], in: s.path)
        XCTAssertEqual(json.status, 0, json.stderr)
        CLI.assertGolden(CLI.normalize(json.stdout, workspace: s.path), "basic", "run.jsonl")
        for line in json.stdout.split(separator: "\n") {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), String(line))
        }
        let runs = try FileManager.default.contentsOfDirectory(atPath: s.path + "/.shipgate/runs")
        XCTAssertEqual(runs.count, 2)
        for run in runs {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(s.path)/.shipgate/runs/\(run)/run.json"))
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(s.path)/.shipgate/runs/\(run)/unit-shard=1.log"))
        }
    }

    func testFailingRunExitsOneAndWritesJUnit() async throws {
        let s = try Scratch(fixture: "failing")
        let out = try await CLI.run(["run", "pipeline.yml", "--jobs", "1", "--output", "plain", "--junit", "report.xml", "--state-dir", "state"], in: s.path)
        XCTAssertEqual(out.status, 1)
        CLI.assertGolden(CLI.normalize(out.stdout, workspace: s.path), "failing", "run.plain")
        let junit = try String(contentsOfFile: s.path + "/report.xml", encoding: .utf8)
        CLI.assertGolden(CLI.normalize(junit, workspace: s.path), "failing", "junit.xml")
        XCTAssertTrue(FileManager.default.fileExists(atPath: s.path + "/state/runs"), "--state-dir is honoured")
    }

    func testMissingSecretsFailBeforeAnyJobStarts() async throws {
        let s = try Scratch(fixture: "secrets")
        let out = try await CLI.run(["run", "pipeline.yml"], in: s.path, environment: ["DEPLOY_TOKEN": "t0k3n-value"])
        XCTAssertEqual(out.status, 2)
        XCTAssertEqual(out.stdout, "")
        CLI.assertGolden(out.stderr, "secrets", "missing.stderr")
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.path + "/.shipgate"), "no run was started")
    }

    func testSecretsFileValuesAreMasked() async throws {
        let s = try Scratch(fixture: "secrets")
        try "# CI secrets\nREGISTRY_PASSWORD='pa55-w0rd!'\nexport DEPLOY_TOKEN=t0k3n-value\n".write(
            toFile: s.path + "/ci.env", atomically: true, encoding: .utf8)
        let out = try await CLI.run(["run", "pipeline.yml", "--secrets-file", "ci.env", "--output", "json"], in: s.path)
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertTrue(out.stdout.contains(#""line":"logging in with *** and ***""#), out.stdout)
        XCTAssertFalse(out.stdout.contains("pa55-w0rd!"))
        XCTAssertFalse(out.stdout.contains("t0k3n-value"))
    }

    func testUsageErrorsExitTwo() async throws {
        let s = try Scratch(fixture: "basic")
        let unknownJob = try await CLI.run(["run", "pipeline.yml", "--job", "pakage"], in: s.path)
        XCTAssertEqual(unknownJob.status, 2)
        XCTAssertEqual(unknownJob.stderr, "error: no job `pakage` in pipeline.yml\n  hint: did you mean `package`?\n1 error in pipeline.yml\n")
        let badJobs = try await CLI.run(["run", "pipeline.yml", "--jobs", "0"], in: s.path)
        XCTAssertEqual(badJobs.status, 2)
        XCTAssertTrue(badJobs.stderr.contains("--jobs must be at least 1"), badJobs.stderr)
        let missing = try await CLI.run(["validate", "nope.yml"], in: s.path)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.hasPrefix("error: no such file: nope.yml"), missing.stderr)
        let help = try await CLI.run(["--help"], in: s.path)
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("Exit codes: 0 success, 1 a job failed"), help.stdout)
    }

    /// SIGINT to shipgate: running steps are terminated, jobs recorded cancelled, exit 130.
    func testInterruptCancelsAndExits130() async throws {
        let s = try Scratch(fixture: "basic")
        try """
        name: interrupt
        jobs:
          long:
            steps:
              - run: sleep 60 & echo $! > child.pid; wait
        """.write(toFile: s.path + "/long.yml", atomically: true, encoding: .utf8)
        let path = s.path
        async let result = CLI.run(["run", "long.yml", "--output", "json"], in: path)
        // Wait until the step has started, then interrupt shipgate (found by its state dir).
        var shipgatePID: Int32?
        for _ in 0..<500 {
            if FileManager.default.fileExists(atPath: path + "/child.pid"),
                let runs = try? FileManager.default.contentsOfDirectory(atPath: path + "/.shipgate/runs"), let run = runs.first,
                let data = FileManager.default.contents(atPath: "\(path)/.shipgate/runs/\(run)/run.json"),
                let record = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let pid = record["pid"] as? Int
            {
                shipgatePID = Int32(pid)
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let pid = try XCTUnwrap(shipgatePID)
        kill(pid, SIGINT)
        let out = try await result
        XCTAssertEqual(out.status, 130, out.stderr)
        XCTAssertTrue(out.stdout.contains(#""event":"job-finished","job":"long","status":"cancelled""#), out.stdout)
        XCTAssertTrue(out.stdout.contains(#""event":"run-finished","run":"#) && out.stdout.contains(#""status":"cancelled""#))
        let child = try XCTUnwrap(Int32(String(contentsOfFile: path + "/child.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        var alive = true
        for _ in 0..<250 where alive {
            alive = kill(child, 0) == 0 && !((try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8))?.contains(") Z ") ?? true)
            if alive { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertFalse(alive, "the step's child survived shipgate's interrupt")
    }

    /// Run, rerun (restored), change one file: plan and explain say exactly what changed.
    func testCacheRerunPlanAndExplain() async throws {
        let s = try Scratch(fixture: "cache")
        for (path, text) in [("lib/a.txt", "lib\n"), ("app/main.txt", "app\n"), ("app/tests/t.txt", "t\n")] {
            try FileManager.default.createDirectory(atPath: s.path + "/" + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: s.path + "/" + path, atomically: true, encoding: .utf8)
        }
        let first = try await CLI.run(["run", "pipeline.yml", "--jobs", "1", "--output", "json"], in: s.path)
        XCTAssertEqual(first.status, 0, first.stderr)
        let second = try await CLI.run(["run", "pipeline.yml", "--jobs", "1", "--output", "plain"], in: s.path)
        XCTAssertEqual(second.status, 0, second.stderr)
        CLI.assertGolden(CLI.normalize(second.stdout, workspace: s.path), "cache", "rerun.plain")

        try "app v2\n".write(toFile: s.path + "/app/main.txt", atomically: true, encoding: .utf8)
        try "ignored\n".write(toFile: s.path + "/app/tests/t.txt", atomically: true, encoding: .utf8)
        let plan = try await CLI.run(["plan", "pipeline.yml", "--json"], in: s.path)
        XCTAssertEqual(plan.status, 0, plan.stderr)
        CLI.assertGolden(CLI.normalizeKeys(CLI.normalize(plan.stdout, workspace: s.path)), "cache", "plan-after-change.json")
        let third = try await CLI.run(["run", "pipeline.yml", "--jobs", "1", "--output", "plain"], in: s.path)
        XCTAssertEqual(third.status, 0, third.stderr)
        let explain = try await CLI.run(["explain", "last", "app"], in: s.path)
        XCTAssertEqual(explain.status, 0, explain.stderr)
        CLI.assertGolden(CLI.normalizeKeys(explain.stdout), "cache", "explain-app.txt")
        let artifacts = try await CLI.run(["artifacts", "last"], in: s.path)
        XCTAssertTrue(artifacts.stdout.contains("dist/app.txt"), artifacts.stdout)
        let stats = try await CLI.run(["cache", "stats"], in: s.path)
        XCTAssertTrue(stats.stdout.contains("job entries:        3"), stats.stdout)
    }

    /// In a real repository steps see the run context, and `${{ git.* }}` expands in plan and run.
    func testGitContextReachesStepsAndInterpolation() async throws {
        let s = try Scratch(fixture: "basic")
        try """
        name: ctx
        env: {RELEASE: "app-${{ git.version }}"}
        jobs:
          show:
            steps:
              - run: echo "$SHIPGATE_BRANCH $SHIPGATE_COMMIT_SHORT $SHIPGATE_TAG $SHIPGATE_DIRTY $SHIPGATE_ACTOR $RELEASE ${{ git.subject }}"
        """.write(toFile: s.path + "/ctx.yml", atomically: true, encoding: .utf8)
        let setup = try await CLI.shell(
            "git init -q -b main && printf '.shipgate\\n' > .gitignore && git add -A && git -c user.name=T -c user.email=t@example.com commit -qm 'release notes' && git tag v2.1.0 && git rev-parse --short=7 HEAD",
            in: s.path)
        let plan = try await CLI.run(["plan", "ctx.yml"], in: s.path)
        XCTAssertTrue(
            plan.stdout.contains("$ echo \"$SHIPGATE_BRANCH $SHIPGATE_COMMIT_SHORT $SHIPGATE_TAG $SHIPGATE_DIRTY $SHIPGATE_ACTOR $RELEASE release notes\""),
            plan.stdout)
        let out = try await CLI.run(["run", "ctx.yml", "--output", "plain", "--actor", "ada"], in: s.path)
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertTrue(out.stdout.contains("git: main @ \(setup) (v2.1.0), actor ada"), out.stdout)
        XCTAssertTrue(out.stdout.contains("[show] main \(setup) v2.1.0 false ada app-v2.1.0 release notes"), out.stdout)
    }

    /// `--isolate` runs the committed tree in a fresh checkout, and removes it on success,
    /// failure and interrupt.
    func testIsolatedRunsSeeOnlyTheCommitAndCleanUp() async throws {
        let s = try Scratch(fixture: "basic")
        let tmp = s.path + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try """
        name: iso
        jobs:
          look:
            steps:
              - run: cat src/a.txt; ls src; test -f leftover.txt && echo leftover || echo clean; echo "$SHIPGATE_VERSION $SHIPGATE_DIRTY"
              - run: git describe --tags; git rev-parse --abbrev-ref HEAD; git status --porcelain | wc -l; git log --format=%s
          fail:
            needs: [look]
            steps: [{run: 'test -z "$FAIL"'}]
          wait:
            needs: [look]
            steps: [{run: 'test -z "$WAIT" || { touch "$MARK"; sleep 30; }'}]
        """.write(toFile: s.path + "/iso.yml", atomically: true, encoding: .utf8)
        _ = try await CLI.shell(
            "git init -q -b main && mkdir src && echo committed > src/a.txt && printf '.shipgate\\ntmp/\\n' > .gitignore && git add -A && git -c user.name=T -c user.email=t@example.com commit -qm init && git tag v1.0.0 && echo edited >> src/a.txt && echo x > src/untracked.txt && echo x > leftover.txt",
            in: s.path)
        func checkouts() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []).filter { $0.hasPrefix("shipgate-isolate-") } }

        let ok = try await CLI.run(["run", "iso.yml", "--isolate", "--job", "look", "--output", "plain"], in: s.path, environment: ["TMPDIR": tmp + "/"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("[look] committed\n[look] a.txt\n[look] clean\n[look] v1.0.0 false"), ok.stdout)
        // A repository of its own: tags, the branch, a clean status and the history.
        XCTAssertTrue(ok.stdout.contains("[look] v1.0.0\n[look] main\n[look] 0\n[look] init\n"), ok.stdout)
        XCTAssertEqual(checkouts(), [])
        let refs = try await CLI.shell("git for-each-ref --format='%(refname)'; git worktree list | wc -l", in: s.path)
        XCTAssertEqual(refs, "refs/heads/main\nrefs/tags/v1.0.0\n1", "the original repository is untouched")

        let failed = try await CLI.run(
            ["run", "iso.yml", "--isolate", "--job", "fail", "--output", "plain"], in: s.path, environment: ["TMPDIR": tmp + "/", "FAIL": "1"])
        XCTAssertEqual(failed.status, 1)
        XCTAssertEqual(checkouts(), [], "removed after a failure too")

        let mark = s.path + "/started"
        let path = s.path
        async let interrupted = CLI.run(
            ["run", "iso.yml", "--isolate", "--job", "wait", "--output", "plain"], in: path, environment: ["TMPDIR": tmp + "/", "WAIT": "1", "MARK": mark])
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: mark) { try await Task.sleep(for: .milliseconds(10)) }
        let pid = try XCTUnwrap(
            ((try? FileManager.default.contentsOfDirectory(atPath: path + "/.shipgate/runs")) ?? []).sorted().last.flatMap { run in
                (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(path)/.shipgate/runs/\(run)/run.json"))) as? [String: Any])?[
                    "pid"] as? Int
            })
        kill(Int32(pid), SIGINT)
        let stopped = try await interrupted
        XCTAssertEqual(stopped.status, 130)
        XCTAssertEqual(checkouts(), [], "removed after an interrupt too")

        let uncommitted = try await CLI.run(["run", "iso-new.yml", "--isolate"], in: s.path)
        XCTAssertEqual(uncommitted.status, 2)
    }

    func testExamplePipelinesValidateAndPlan() async throws {
        let root = CLI.fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        for file in ["pipelines/demo.yml", "pipelines/ci.yml", "pipelines/examples/webapp.yml"] {
            let validate = try await CLI.run(["validate", file], in: root)
            XCTAssertEqual(validate.status, 0, "\(file): \(validate.stderr)")
            let plan = try await CLI.run(["plan", file, "--json"], in: root)
            XCTAssertEqual(plan.status, 0, "\(file): \(plan.stderr)")
        }
    }
}
