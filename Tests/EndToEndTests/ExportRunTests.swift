import Foundation
import XCTest

/// `export github` checked end to end without github.com: the exported workflow runs through
/// shipgate's own workflow runner (`shipgate run exported.yml`), with this repository's
/// action (`--action ./`) and the artifact actions done natively, and every job must end as
/// it does when the pipeline runs directly: statuses, outputs, the artifact handed on (its
/// digest is checked by the job that receives it), the tag-only job skipped on a branch and
/// run on a tag. Each side gets its own copy of the same commit (fixed dates, same id).
final class ExportRunTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "export-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    /// The fixture with the repository's `action.yml`, exported to `.github/workflows/exported.yml`, committed.
    /// `localAction`: export with `--action ./` and this repository's `action.yml` in the
    /// checkout (its composite steps run); else the default `shipgate/shipgate@v1`, which
    /// shipgate's runner runs natively.
    func checkout(_ name: String, fixture: String, localAction: Bool = true) async throws -> String {
        let dir = root + "/" + name
        try FileManager.default.copyItem(atPath: CLI.fixtures.appendingPathComponent(fixture).path, toPath: dir)
        if localAction { try FileManager.default.copyItem(atPath: GitHubTests.repoRoot + "/action.yml", toPath: dir + "/action.yml") }
        try FileManager.default.createDirectory(atPath: dir + "/.github/workflows", withIntermediateDirectories: true)
        let export = try await CLI.run(["export", "github", "pipeline.yml"] + (localAction ? ["--action", "./"] : []), in: dir)
        XCTAssertEqual(export.status, 0, export.stderr)
        try export.stdout.write(toFile: dir + "/.github/workflows/exported.yml", atomically: true, encoding: .utf8)
        let date = "GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'"
        _ = try await CLI.shell(
            "git init -q -b main && printf '.shipgate\\n.shipgate-*\\n' > .gitignore && git add -A && \(date) git -c user.name=T -c user.email=t@example.com commit -qm init",
            in: dir)
        return dir
    }

    /// Job id → (status, outputs) of the run records under `dir`: the direct run's, or for an
    /// exported run each job as the shipgate step of its GitHub job ran it (and the GitHub
    /// jobs that never started, as skipped).
    func results(_ dir: String, exported: Bool) throws -> [String: (status: String, outputs: [String: String])] {
        let runs = dir + "/.shipgate/runs"
        var out: [String: (String, [String: String])] = [:]
        var outer: [[String: Any]] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: runs).sorted() {
            guard let data = FileManager.default.contents(atPath: "\(runs)/\(name)/run.json"),
                let record = try JSONSerialization.jsonObject(with: data) as? [String: Any], let jobs = record["jobs"] as? [[String: Any]]
            else { continue }
            if exported && (record["pipeline"] as? String ?? "").hasPrefix("shipgate: ") {
                outer = jobs
                continue
            }
            for job in jobs {
                let reason = job["reason"] as? String ?? ""
                if exported && (reason == "ran in another GitHub job" || reason.hasPrefix("not selected")) { continue }
                out[job["id"] as! String] = (job["status"] as! String, job["outputs"] as? [String: String] ?? [:])
            }
        }
        for job in outer where (job["status"] as? String) == "skipped" {
            out[job["id"] as! String] = out[job["id"] as! String] ?? ("skipped", [:])
        }
        return out
    }

    func compare(_ fixture: String, ref: String? = nil, tag: String? = nil, then change: String? = nil, localAction: Bool = true) async throws -> (
        jobs: [String: (status: String, outputs: [String: String])], output: String
    ) {
        let name = (tag ?? (change == nil ? "branch" : "feature")) + (localAction ? "" : "-native")
        let direct = try await checkout("direct-\(name)", fixture: fixture, localAction: localAction)
        let exported = try await checkout("exported-\(name)", fixture: fixture, localAction: localAction)
        for dir in [direct, exported] {
            if let tag { _ = try await CLI.shell("git tag \(tag)", in: dir) }
            if let change {
                let date = "GIT_AUTHOR_DATE='2026-01-02T00:00:00Z' GIT_COMMITTER_DATE='2026-01-02T00:00:00Z'"
                _ = try await CLI.shell(
                    "git checkout -q -b feature && \(change) && git add -A && \(date) git -c user.name=T -c user.email=t@example.com commit -qm change", in: dir
                )
            }
        }
        let commits = (try await CLI.shell("git rev-parse HEAD", in: direct), try await CLI.shell("git rev-parse HEAD", in: exported))
        XCTAssertEqual(commits.0, commits.1, "the same commit on both sides")
        let a = try await CLI.run(["run", "pipeline.yml", "--jobs", "1", "--output", "plain"], in: direct)
        // The exported jobs find the shipgate under test on PATH (the action's "Find shipgate" step).
        let path = (CLI.binary as NSString).deletingLastPathComponent + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let b = try await CLI.run(
            ["run", ".github/workflows/exported.yml", "--jobs", "1", "--output", "plain"] + (ref.map { ["--ref", $0] } ?? []), in: exported,
            environment: ["PATH": path])
        XCTAssertEqual(a.status, b.status, "direct:\n\(a.stdout)\nexported:\n\(b.stdout)\n\(b.stderr)")
        let left = try results(direct, exported: false)
        let right = try results(exported, exported: true)
        XCTAssertEqual(Set(left.keys), Set(right.keys), "\(b.stdout)")
        for (id, result) in left {
            XCTAssertEqual(right[id]?.status, result.status, "job \(id)\n\(b.stdout)")
            XCTAssertEqual(right[id]?.outputs, result.outputs, "outputs of \(id)")
        }
        return (right, b.stdout)
    }

    func testAnExportedPipelineRunsAsThePipelineDoes() async throws {
        let (onBranch, output) = try await compare("export-run")
        XCTAssertEqual(onBranch["release"]?.status, "skipped", "a tag-only job starts no runner on a branch")
        XCTAssertEqual(onBranch["check"]?.status, "success", "the artifact arrived with its digest")
        XCTAssertEqual(onBranch["build"]?.outputs["digest"]?.count, 16)
        XCTAssertTrue(output.contains("[check] steps-before ran on Linux"), output)
        // `when: changes`, decided once by the build job's plan, as shipgate decides it (here
        // without an earlier run to diff against: both run, on both sides).
        XCTAssertNotNil(onBranch["api"])
        XCTAssertNotNil(onBranch["docs"])
        // On a feature branch that changes docs/ only: `api` is skipped, by shipgate's rule on both sides.
        let feature = try await compare("export-run", then: "echo more >> docs/guide.md").jobs
        XCTAssertEqual(feature["api"]?.status, "skipped")
        XCTAssertEqual(feature["docs"]?.status, "success")
        let onTag = try await compare("export-run", ref: "refs/tags/v1.2.0", tag: "v1.2.0").jobs
        XCTAssertEqual(onTag["release"]?.status, "success")
        // As exported by default (`uses: shipgate/shipgate@v1`), without edits: shipgate's runner
        // runs its own action natively.
        let (native, nativeOutput) = try await compare("export-run", localAction: false)
        XCTAssertEqual(native["check"]?.status, "success")
        XCTAssertTrue(nativeOutput.contains("shipgate action: install-only, the running shipgate"), nativeOutput)
    }

    func testWhenRulesBecomeConditionsGitHubCanDecide() async throws {
        let dir = root + "/rules"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        name: rules
        jobs:
          exact: { when: { branches: [main] }, steps: [{ run: "true" }] }
          prefix: { when: { branches: ["release/*", "hotfix-*"] }, steps: [{ run: "true" }] }
          tags: { when: { tags: ["v*"] }, steps: [{ run: "true" }] }
          either: { when: { branches: [main], tags: ["v*"] }, steps: [{ run: "true" }] }
          quoted: { when: { branches: ["it's"] }, steps: [{ run: "true" }] }
          anything: { when: { branches: ["**"], manual: true }, steps: [{ run: "true" }] }
          deep: { when: { branches: ["./release/**"] }, steps: [{ run: "true" }] }
          colon: { when: { branches: ["a: b"] }, steps: [{ run: "true" }] }
          changes: { when: { changes: ["src/**"] }, steps: [{ run: "true" }] }
          tools: { toolchain: { python: "3.12", node: "20", go: "1.22" }, steps: [{ run: "true" }] }
        """.write(toFile: dir + "/pipeline.yml", atomically: true, encoding: .utf8)
        let out = try await CLI.run(["export", "github", "pipeline.yml"], in: dir)
        XCTAssertEqual(out.status, 0, out.stderr)
        let branch = "(github.head_ref || github.ref_name)"
        for expected in [
            "if: ${{ (\(branch) == 'main') }}",
            "if: ${{ (startsWith(\(branch), 'release/') || startsWith(\(branch), 'hotfix-')) }}",
            "if: ${{ (github.ref_type == 'tag' && (startsWith(github.ref_name, 'v'))) }}",
            "if: ${{ ((\(branch) == 'main') || (github.ref_type == 'tag' && (startsWith(github.ref_name, 'v')))) }}",
            "if: ${{ (\(branch) == 'it''s') }}",
            "if: ${{ github.event_name == 'workflow_dispatch' && (github.ref_type == 'branch' || github.head_ref != '') }}",
            "if: ${{ (startsWith(\(branch), 'release')) }}",
            "if: \"${{ (\(branch) == 'a: b') }}\"",
        ] {
            XCTAssertTrue(out.stdout.contains(expected), "\(expected)\n\(out.stdout)")
        }
        // Toolchains become the setup actions, before the shipgate step.
        let tools = out.stdout.components(separatedBy: "  tools:\n").last ?? ""
        for setup in [
            "uses: actions/setup-python@v6\n        with:\n          python-version: \"3.12\"",
            "uses: actions/setup-node@v6\n        with:\n          node-version: \"20\"",
            "uses: actions/setup-go@v6\n        with:\n          go-version: \"1.22\"",
        ] {
            XCTAssertTrue(tools.contains(setup), "\(setup)\n\(tools)")
        }
        XCTAssertLessThan(tools.range(of: "setup-python")!.lowerBound, tools.range(of: "id: shipgate")!.lowerBound)
        // A need from stage order carries no skip in shipgate: GitHub must not skip the next stage.
        try """
        name: stages
        stages: [one, two]
        jobs:
          first: { stage: one, when: { branches: [main] }, steps: [{ run: "true" }] }
          second: { stage: two, steps: [{ run: "true" }] }
          third: { stage: two, needs: [first], steps: [{ run: "true" }] }
        """.write(toFile: dir + "/stages.yml", atomically: true, encoding: .utf8)
        let staged = try await CLI.run(["export", "github", "stages.yml"], in: dir)
        XCTAssertEqual(staged.status, 0, staged.stderr)
        let second = staged.stdout.components(separatedBy: "  second:\n").last ?? ""
        XCTAssertTrue(second.contains("    needs: [\"shipgate-build\", \"first\"]\n    if: ${{ !cancelled() && !failure() }}\n"), second)
        let third = staged.stdout.components(separatedBy: "  third:\n").last ?? ""
        XCTAssertFalse(third.prefix(300).contains("    if:"), "an explicit need carries the skip, as in shipgate: \(third)")
        // `changes` is decided once, by shipgate's plan in the build job, and read by the job's `if:`.
        XCTAssertTrue(out.stdout.contains("    if: ${{ fromJSON(needs.shipgate-build.outputs.changes || '{}')['changes'] != 'skip' }}"), out.stdout)
        XCTAssertTrue(out.stdout.contains("          wanted = [\"changes\"]"), out.stdout)
    }

    func testGitHubSettingsPassThroughAndTheirStepsAreChecked() async throws {
        let dir = root + "/settings"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        name: settings
        defaults:
          github:
            runs-on: ubuntu-24.04
            steps-before:
              - uses: astral-sh/setup-uv@v6
                with: { version: "0.5.1", enable-cache: True, ratio: .5, name: yes }
        jobs:
          a:
            github:
              runs-on: [self-hosted, linux]
              permissions: { id-token: write }
              steps-before:
                - run: echo "it's before"
                  if: github.event_name == 'push'
            steps: [{ run: "true" }]
          b: { steps: [{ run: "true" }] }
        """.write(toFile: dir + "/pipeline.yml", atomically: true, encoding: .utf8)
        let out = try await CLI.run(["export", "github", "pipeline.yml"], in: dir)
        XCTAssertEqual(out.status, 0, out.stderr)
        let a = out.stdout.components(separatedBy: "\n  a:\n").last?.components(separatedBy: "\n  b:\n").first ?? ""
        let b = out.stdout.components(separatedBy: "\n  b:\n").last ?? ""
        XCTAssertTrue(a.contains("    runs-on: [\"self-hosted\", \"linux\"]\n    permissions: {\"contents\": \"read\", \"id-token\": \"write\"}\n"), a)
        XCTAssertTrue(
            a.contains(
                "      - {\"uses\": \"astral-sh/setup-uv@v6\", \"with\": {\"version\": \"0.5.1\", \"enable-cache\": True, \"ratio\": .5, \"name\": \"yes\"}}\n"),
            a)
        XCTAssertTrue(a.contains("      - {\"run\": \"echo \\\"it's before\\\"\", \"if\": \"github.event_name == 'push'\"}\n"), a)
        XCTAssertLessThan(a.range(of: "setup-uv")!.lowerBound, a.range(of: "it's before")!.lowerBound, "the defaults' steps first")
        XCTAssertTrue(b.contains("    runs-on: \"ubuntu-24.04\"\n"), b)
        XCTAssertTrue(out.stdout.contains("  shipgate-build:\n    name: \"shipgate: build\"\n    runs-on: \"ubuntu-24.04\"\n"), out.stdout)
        // The steps are checked as a workflow's: located errors, nothing exported.
        try """
        name: bad
        jobs:
          a:
            github:
              steps-before:
                - { run: "x", uses: "a/b@v1" }
                - { uses: "not an action" }
                - { run: "x", if: "github.ref ==" }
                - { run: "x", shel: bash }
              permissions: none
            steps: [{ run: "true" }]
        """.write(toFile: dir + "/pipeline.yml", atomically: true, encoding: .utf8)
        let bad = try await CLI.run(["validate", "pipeline.yml"], in: dir)
        XCTAssertEqual(bad.status, 2, bad.stderr)
        for expected in [
            "pipeline.yml:6:11: error: a step of `steps-before` of `github` of job `a` has both `run` and `uses`",
            "pipeline.yml:7:19: error: `uses: not an action` must be",
            "pipeline.yml:8:27: error: invalid `if` of a step of `steps-before`",
            "pipeline.yml:9:23: error: unknown key `shel`",
            "pipeline.yml:10:20: error: `permissions` of `github` of job `a` must be",
        ] {
            XCTAssertTrue(bad.stderr.contains(expected) || bad.stdout.contains(expected), "\(expected)\n\(bad.stderr)")
        }
    }
}
