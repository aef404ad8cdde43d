import Foundation
import XCTest

/// GitHub workflows through the binary, against real git repositories: the fixture corpus in
/// `Fixtures/workflows/<case>/` (one feature each, and three realistic projects), each copied
/// into a temporary repository, committed, then validated, planned and run. Outcomes are read
/// from the run record (`run.json`), not from the terminal output.
final class WorkflowCommandTests: XCTestCase {
    struct Repo {
        let root: String
        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    /// The fixture as a committed repository on branch `main`.
    func repo(_ fixture: String) async throws -> Repo {
        let root = NSTemporaryDirectory() + "wf-\(fixture)-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: CLI.fixtures.appendingPathComponent("workflows/\(fixture)").path, toPath: root)
        _ = try await CLI.shell(
            "git init -q -b main && printf '.shipgate\\n' > .gitignore && git add -A && git -c user.name=T -c user.email=t@example.com commit -qm init",
            in: root)
        return Repo(root: root)
    }

    /// Job id → (status, reason, outputs) from the newest run record.
    func record(_ repo: Repo) throws -> (status: String, jobs: [String: (status: String, reason: String, outputs: [String: String])]) {
        let runs = repo.root + "/.shipgate/runs"
        let newest = try FileManager.default.contentsOfDirectory(atPath: runs).sorted().last!
        let data = try Data(contentsOf: URL(fileURLWithPath: runs + "/" + newest + "/run.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        var jobs: [String: (String, String, [String: String])] = [:]
        for job in json["jobs"] as! [[String: Any]] {
            jobs[job["id"] as! String] = (job["status"] as! String, job["reason"] as? String ?? "", job["outputs"] as? [String: String] ?? [:])
        }
        return (json["status"] as! String, jobs)
    }

    func run(_ repo: Repo, _ file: String, _ extra: [String] = []) async throws -> CLI.Output {
        try await CLI.run(["run", file, "--jobs", "1", "--output", "plain"] + extra, in: repo.root)
    }

    func testOutputsEnvAndPathFlowBetweenStepsAndJobs() async throws {
        let repo = try await repo("outputs")
        defer { repo.remove() }
        let out = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        let r = try record(repo)
        XCTAssertEqual(r.jobs["produce"]?.outputs["version"], "1.2.3")
        XCTAssertEqual(r.jobs["produce"]?.outputs["notes"], "line one\nline two")
        // GitHub's hashFiles: SHA-256 over the files' SHA-256 digests, in path order.
        let a = try await CLI.shell("sha256sum data/a.txt | cut -c1-64", in: repo.root)
        let b = try await CLI.shell("sha256sum data/b.txt | cut -c1-64", in: repo.root)
        // The two digests as bytes, in a file, hashed again (no xxd: coreutils only).
        var bytes: [UInt8] = []
        let hex = Array((a + b).utf8)
        for i in stride(from: 0, to: hex.count, by: 2) { bytes.append(UInt8(String(decoding: hex[i..<(i + 2)], as: UTF8.self), radix: 16)!) }
        try Data(bytes).write(to: URL(fileURLWithPath: repo.root + "/.digests"))
        let expected = try await CLI.shell("sha256sum .digests | cut -c1-64", in: repo.root)
        XCTAssertEqual(r.jobs["produce"]?.outputs["hash"], expected)
        XCTAssertTrue(out.stdout.contains("tool-on-path"), out.stdout)
        XCTAssertTrue(out.stdout.contains("1.2.3-x"), out.stdout)
        let needs = try String(contentsOfFile: repo.root + "/needs.json", encoding: .utf8)
        XCTAssertTrue(needs.contains("\"version\": \"1.2.3\""), needs)
        XCTAssertTrue(out.stdout.contains("hashFiles in if works"), out.stdout)
        XCTAssertTrue(out.stdout.contains("$GITHUB_ENV: `GITHUB_SHA` cannot be set this way"), out.stdout)
        // shipgate's own state (run records, copies of artifacts) is never part of hashFiles.
        let again = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(again.status, 0)
        XCTAssertEqual(try record(repo).jobs["produce"]?.outputs["all"], r.jobs["produce"]?.outputs["all"])
    }

    func testConditionsStatusFunctionsAndSkips() async throws {
        let repo = try await repo("conditions")
        defer { repo.remove() }
        let out = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        let r = try record(repo)
        XCTAssertEqual(r.jobs["steps"]?.status, "failed")
        XCTAssertEqual(r.jobs["steps"]?.reason, "step `Run exit 1` exited with code 1")
        XCTAssertEqual(r.jobs["after-failure"]?.status, "skipped")
        XCTAssertEqual(r.jobs["after-failure"]?.reason, "needs did not succeed: steps")
        XCTAssertEqual(r.jobs["on-failure"]?.status, "success")
        XCTAssertEqual(r.jobs["transitive"]?.status, "success", "failure() holds when an ancestor failed")
        XCTAssertEqual(r.jobs["always"]?.status, "success")
        XCTAssertEqual(r.jobs["after-recovery"]?.status, "skipped", "a failure applies to the whole chain below it")
        XCTAssertEqual(r.jobs["after-recovery"]?.reason, "needs did not succeed: steps")
        XCTAssertEqual(r.jobs["tolerated-job"]?.status, "failed")
        XCTAssertEqual(r.jobs["after-tolerated"]?.status, "success", "continue-on-error on a job does not block what needs it")
        XCTAssertEqual(r.jobs["never"]?.reason, "`if: github.event_name == 'pull_request'` is false")
        for line in ["outcome failure, conclusion success", "cleanup after failure", "always runs", "steps ended with failure"] {
            XCTAssertTrue(out.stdout.contains(line), "\(line) in \(out.stdout)")
        }
        XCTAssertFalse(out.stdout.contains("] must not run"), out.stdout)
        XCTAssertFalse(out.stdout.contains("] must be skipped"), out.stdout)
    }

    func testMatrixIncludeExcludeFailFastAndSelection() async throws {
        let repo = try await repo("matrix")
        defer { repo.remove() }
        let plan = try await CLI.run(["plan", ".github/workflows/ci.yml", "--json"], in: repo.root)
        XCTAssertEqual(plan.status, 0, plan.stderr)
        // exclude removes (windows, 3.11); include adds coverage to both 3.12 and a pypy3 variant; 3.10 is the number 3.1.
        for id in [
            "test (os=ubuntu-latest, python=3.11)", "test (os=ubuntu-latest, python=3.12, coverage=true)", "test (os=ubuntu-latest, python=3.1)",
            "test (os=windows-latest, python=3.12, coverage=true)", "test (os=windows-latest, python=3.1)", "test (os=ubuntu-latest, python=pypy3)",
        ] {
            XCTAssertTrue(plan.stdout.contains("\"id\":\"\(id)\""), id)
        }
        XCTAssertFalse(plan.stdout.contains("os=windows-latest, python=3.11"))
        XCTAssertTrue(plan.stdout.contains("\"name\":\"test 3.12 on ubuntu-latest\""), plan.stdout)
        let out = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(out.status, 1)
        let r = try record(repo)
        XCTAssertEqual(r.jobs["test (os=windows-latest, python=3.1)"]?.status, "skipped")
        XCTAssertTrue(r.jobs["test (os=windows-latest, python=3.1)"]?.reason.contains("asks for Windows") ?? false)
        XCTAssertTrue(out.stdout.contains("python=3.12 coverage=true index=1/6"), out.stdout)
        XCTAssertEqual(r.jobs["fast (n=1)"]?.status, "failed")
        XCTAssertEqual(r.jobs["fast (n=2)"]?.status, "cancelled")
        XCTAssertEqual(r.jobs["fast (n=2)"]?.reason, "not started: `fast (n=1)` failed (strategy.fail-fast)")
        // fail-fast also stops the variants already running.
        let parallel = try await CLI.run(["run", ".github/workflows/ci.yml", "--job", "fast", "--jobs", "3", "--output", "plain"], in: repo.root)
        XCTAssertEqual(parallel.status, 1)
        let pr = try record(repo)
        for n in [2, 3] { XCTAssertEqual(pr.jobs["fast (n=\(n))"]?.status, "cancelled", pr.jobs["fast (n=\(n))"]?.reason ?? "") }
        // --matrix picks variants.
        let picked = try await run(repo, ".github/workflows/ci.yml", ["--matrix", "n=1", "--job", "fast"])
        XCTAssertEqual(picked.status, 1, picked.stdout + picked.stderr)
        let p = try record(repo)
        XCTAssertEqual(p.jobs["fast (n=1)"]?.status, "failed")
        XCTAssertNil(p.jobs["fast (n=2)"])
    }

    func testShellsWorkingDirectoriesAndDefaults() async throws {
        let repo = try await repo("shells")
        defer { repo.remove() }
        let out = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("no pipefail by default"))
        XCTAssertFalse(out.stdout.contains("must not get here"))
        XCTAssertTrue(out.stdout.contains("python in sub"))
        XCTAssertTrue(out.stdout.contains("custom --extra"))
    }

    func testWorkflowCommandsMaskAnnotateAndSummarize() async throws {
        let repo = try await repo("commands")
        defer { repo.remove() }
        let out = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("the value is ***"), out.stdout)
        XCTAssertFalse(out.stdout.contains("HUNTER2-secret"), out.stdout)
        XCTAssertTrue(out.stdout.contains("app.py:7: Lint: unused import"), out.stdout)
        XCTAssertTrue(out.stdout.contains("::error::not a command while stopped"), out.stdout)
        XCTAssertFalse(out.stdout.contains("hidden unless debugging"))
        XCTAssertFalse(out.stdout.contains("::group::"))
        let logs = try await CLI.shell("cat .shipgate/runs/*/commands.log", in: repo.root)
        XCTAssertFalse(logs.contains("HUNTER2-secret"), logs)
        let summary = try await CLI.shell("cat .shipgate/runs/*/summaries/*.md", in: repo.root)
        XCTAssertEqual(summary, "## Report")
    }

    func testCoreActionsAndCompositeActions() async throws {
        let repo = try await repo("actions")
        defer { repo.remove() }
        let first = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("cache-hit=\n") || first.stdout.contains("cache-hit=\r\n") || first.stdout.contains("] cache-hit=\n"), first.stdout)
        XCTAssertTrue(first.stdout.contains("hello world!"), first.stdout)
        XCTAssertTrue(first.stdout.contains("hello committed!"), first.stdout)
        XCTAssertTrue(first.stdout.contains("inner depth 2"), first.stdout)
        XCTAssertTrue(first.stdout.contains("actions/setup-python: python 3."), first.stdout)
        let second = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertTrue(second.stdout.contains("cache-hit=true"), second.stdout)
        // An artifact changed in the store between upload and download (file and manifest) fails the download.
        let tampered = try await run(repo, ".github/workflows/tamper.yml")
        XCTAssertEqual(tampered.status, 1, tampered.stdout + tampered.stderr)
        let t = try record(repo)
        XCTAssertTrue(t.jobs["down"]?.reason.contains("changed after upload") ?? false, t.jobs["down"]?.reason ?? "")
        XCTAssertEqual(t.jobs["edges"]?.status, "success", "a link is stored as its content; `..` is not an artifact name: \(t.jobs["edges"]?.reason ?? "")")
    }

    func testRefusalsAreLocatedAndTheRestRuns() async throws {
        let repo = try await repo("refusals")
        defer { repo.remove() }
        let validate = try await CLI.run(["validate", ".github/workflows/ci.yml"], in: repo.root)
        XCTAssertEqual(validate.status, 0, validate.stderr)
        XCTAssertTrue(validate.stdout.contains("1 run here, 8 refused"), validate.stdout)
        let plan = try await CLI.run(["plan", ".github/workflows/ci.yml"], in: repo.root)
        let expected = [
            "windows: refused: .github/workflows/ci.yml:5:3: `runs-on: windows-latest` asks for Windows",
            "container: refused: .github/workflows/ci.yml:11:16: runs in the container `node:20`",
            "services: refused: .github/workflows/ci.yml:18:9: service `search` uses the image `elasticsearch:8.13.0`, which has no local equivalent",
            "local-docker: refused: .github/workflows/ci.yml:25:9: step 2 (`uses: ./.github/actions/in-docker`): .github/actions/in-docker/action.yml is a Docker action",
            "docker-action: refused: .github/workflows/ci.yml:29:9: step 1 (`uses: docker://alpine:3.20`): Docker container actions need Docker",
            "missing-local: refused: .github/workflows/ci.yml:33:9: step 1 (`uses: ./.github/actions/does-not-exist`)",
            "reusable: refused: .github/workflows/ci.yml:35:11: `uses: ./.github/workflows/other.yml`: no such file",
            "custom-label: refused: .github/workflows/ci.yml:36:3: `runs-on: gpu` is not a label this host serves",
        ]
        for line in expected { XCTAssertTrue(plan.stdout.contains(line), "\(line)\n\(plan.stdout)") }
        let out = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertEqual(try record(repo).jobs["runs"]?.status, "success")
        // A label mapped to this host runs.
        let mapped = try await run(repo, ".github/workflows/ci.yml", ["--runner", "gpu=host", "--job", "custom-label"])
        XCTAssertEqual(mapped.status, 0, mapped.stdout + mapped.stderr)
        XCTAssertTrue(mapped.stdout.contains("gpu"))
    }

    func testTriggersEventsAndInputs() async throws {
        let repo = try await repo("triggers")
        defer { repo.remove() }
        let file = ".github/workflows/release.yml"
        let notTriggered = try await run(repo, file)
        XCTAssertEqual(notTriggered.status, 2)
        XCTAssertTrue(notTriggered.stderr.contains("not triggered: branch `main` matches none of release/*"), notTriggered.stderr)
        let dispatch = try await run(repo, file, ["--event", "workflow_dispatch", "--input", "level=minor"])
        XCTAssertEqual(dispatch.status, 0, dispatch.stdout + dispatch.stderr)
        XCTAssertTrue(dispatch.stdout.contains("event=workflow_dispatch level=minor dry=true ref=main"), dispatch.stdout)
        XCTAssertTrue(dispatch.stdout.contains("dry run"))
        let unknown = try await run(repo, file, ["--event", "workflow_dispatch", "--input", "nope=1"])
        XCTAssertEqual(unknown.status, 2, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("the workflow declares no such input"), unknown.stderr)
        _ = try await CLI.shell("git -c user.name=T -c user.email=t@example.com tag v1.0.0", in: repo.root)
        let onBranch = try await run(repo, file)
        XCTAssertEqual(onBranch.status, 2, "a tagged commit on a branch is a branch push")
        let tagged = try await run(repo, file, ["--ref", "refs/tags/v1.0.0"])
        XCTAssertEqual(tagged.status, 0, tagged.stdout + tagged.stderr)
        XCTAssertTrue(tagged.stdout.contains("event=push level= dry= ref=v1.0.0"), tagged.stdout)
        let directory = try await run(repo, ".github/workflows")
        XCTAssertEqual(directory.status, 2)
        XCTAssertTrue(directory.stderr.contains("passed over: release.yml: not triggered: branch `main` matches none of release/*"), directory.stderr)
        XCTAssertTrue(directory.stderr.contains("no workflow in .github/workflows runs for `push`"), directory.stderr)
        let ignored = try await run(repo, file, ["--event", "schedule", "--ignore-triggers"])
        XCTAssertEqual(ignored.status, 0, ignored.stdout + ignored.stderr)
    }

    func testRealisticProjects() async throws {
        let library = try await repo("python-library")
        defer { library.remove() }
        let lib = try await run(library, ".github/workflows/ci.yml")
        XCTAssertEqual(lib.status, 0, lib.stdout + lib.stderr)
        let r = try record(library)
        XCTAssertEqual(r.jobs["lint"]?.status, "success")
        XCTAssertEqual(r.jobs["test (os=ubuntu-latest, python-version=3)"]?.status, "success")
        XCTAssertTrue(r.jobs["test (os=macos-latest, python-version=3)"]?.reason.contains("asks for macOS") ?? false)
        XCTAssertEqual(r.jobs["build"]?.status, "success", "a variant refused here does not block what needs the job")
        XCTAssertEqual(r.jobs["build"]?.outputs["wheel"], "pylib-0.1.tar.gz")
        XCTAssertEqual(r.jobs["publish"]?.status, "skipped")
        XCTAssertTrue(lib.stdout.contains("Ran 1 test"), lib.stdout)
        // A directory: every workflow the event triggers.
        let all = try await CLI.run(["run", ".github/workflows/", "--jobs", "1", "--output", "plain"], in: library.root)
        XCTAssertEqual(all.status, 0, all.stdout + all.stderr)
        XCTAssertTrue(all.stderr.contains("==> .github/workflows/ci.yml"), all.stderr)

        let django = try await repo("django-app")
        defer { django.remove() }
        let d = try await run(django, ".github/workflows/django.yml")
        XCTAssertEqual(d.status, 0, d.stdout + d.stderr)
        let dr = try record(django)
        XCTAssertEqual(dr.jobs["check"]?.status, "success")
        // PostgreSQL as a service on the port the workflow maps (5432:5432), one variant after the other.
        for v in ["3.11", "3.12"] {
            XCTAssertEqual(dr.jobs["build (python-version=\(v))"]?.status, "success", dr.jobs["build (python-version=\(v))"]?.reason ?? "")
        }
        XCTAssertTrue(d.stdout.contains("connected to 5432"), d.stdout)
        XCTAssertTrue(d.stdout.contains("] 42"), d.stdout)

        let go = try await repo("go-cli")
        defer { go.remove() }
        let g = try await run(go, ".github/workflows/go.yml", [], )
        let gr = try record(go)
        if (try? await CLI.shell("command -v go", in: go.root))?.isEmpty == false {
            XCTAssertEqual(g.status, 0, g.stdout + g.stderr)
        } else {
            XCTAssertEqual(g.status, 1)
            XCTAssertTrue(
                gr.jobs["build"]?.reason.contains("actions/setup-go 1.22: no go 1.22 is installed; install Go 1.22") ?? false, gr.jobs["build"]?.reason ?? "")
        }
    }

    func testLocalReusableWorkflows() async throws {
        let repo = try await repo("reusable")
        defer { repo.remove() }
        let plan = try await CLI.run(["plan", ".github/workflows/ci.yml"], in: repo.root)
        XCTAssertEqual(plan.status, 0, plan.stderr)
        XCTAssertTrue(plan.stdout.contains("run deploy/build  needs prepare · timeout 6h · called by deploy (./.github/workflows/deploy.yml)"), plan.stdout)
        // Secret names are case-insensitive: `secrets.DEPLOY_TOKEN` reads deploy_token.
        let out = try await CLI.run(
            ["run", ".github/workflows/ci.yml", "--jobs", "1", "--output", "plain"], in: repo.root, environment: ["deploy_token": "s3cr3t-value"])
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        let r = try record(repo)
        for id in ["prepare", "deploy/build", "deploy/release", "deploy/announce", "deploy", "report"] {
            XCTAssertEqual(r.jobs[id]?.status, "success", "\(id): \(r.jobs[id]?.reason ?? "")")
        }
        // A called job skipped by its own `if:` does not hold back what needs the caller.
        XCTAssertEqual(r.jobs["deploy/publish"]?.status, "skipped")
        XCTAssertTrue(out.stdout.contains("dry run of staging"), out.stdout)
        XCTAssertEqual(r.jobs["deploy"]?.outputs["url"], "https://staging.example.com")
        XCTAssertEqual(r.jobs["skipped-call/build"]?.reason, "the calling job `skipped-call`: `if: github.event_name == 'release'` is false")
        XCTAssertEqual(r.jobs["skipped-call"]?.status, "skipped")
        XCTAssertTrue(out.stdout.contains("token ***"), out.stdout)
        XCTAssertFalse(out.stdout.contains("s3cr3t-value"))
        // Without the secret, the called job sees it empty (as on GitHub) and says so once.
        let missing = try await run(repo, ".github/workflows/ci.yml")
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("secret DEPLOY_TOKEN not set: read as empty"), missing.stderr)
        // A caller that passes an input the called workflow does not declare is an error, located.
        try "on: push\njobs:\n  d:\n    uses: ./.github/workflows/deploy.yml\n    with: { environment: x, colour: red }\n".write(
            toFile: repo.root + "/.github/workflows/bad.yml", atomically: true, encoding: .utf8)
        let bad = try await CLI.run(["validate", ".github/workflows/bad.yml"], in: repo.root)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains(".github/workflows/bad.yml:5:11: error: .github/workflows/deploy.yml has no input `colour`"), bad.stderr)
    }

    func testInvalidWorkflowIsReportedWithItsLocation() async throws {
        let root = NSTemporaryDirectory() + "wf-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/.github/workflows", withIntermediateDirectories: true)
        let file = ".github/workflows/ci.yml"
        try "on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix. }}\n".write(
            toFile: root + "/" + file, atomically: true, encoding: .utf8)
        for command in ["validate", "plan", "run"] {
            let invalid = try await CLI.run([command, file], in: root)
            XCTAssertEqual(invalid.status, 2, command)
            XCTAssertTrue(invalid.stderr.contains("\(file):6:31: error: invalid expression: expected a property name after `.`"), invalid.stderr)
        }
    }
}
