import Foundation
import XCTest

/// shipgate inside GitHub Actions (`GITHUB_ACTIONS=true`), and `export github`.
final class GitHubTests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func githubEnv(_ s: Scratch) -> [String: String] {
        ["GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": s.path + "/github-output", "GITHUB_STEP_SUMMARY": s.path + "/step-summary.md"]
    }

    func testGroupsNeverInterleaveSecretsAreMaskedAndStepsCannotInjectCommands() async throws {
        let s = try Scratch(fixture: "github")
        var env = githubEnv(s)
        env["API_TOKEN"] = "sekrit-value-123"
        let out = try await CLI.run(["run", "pipeline.yml", "--jobs", "4"], in: s.path, environment: env)
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        let lines = out.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.first, "::add-mask::sekrit-value-123", "the secret is masked before anything else is printed")
        XCTAssertEqual(out.stdout.components(separatedBy: "sekrit-value-123").count, 2, "the secret appears only in ::add-mask::")
        XCTAssertTrue(out.stdout.contains("beta sees ***"))

        // Every group holds one job's lines, inside stop-commands, and groups do not nest or interleave.
        // Parsed the way the runner does: while stop-commands is on, nothing but its own
        // token is a command.
        var groups: [(title: String, body: [String])] = []
        var current: (title: String, body: [String])?
        var stopToken: String?
        for line in lines {
            if let token = stopToken {
                current?.body.append(line)
                if line == "::\(token)::" { stopToken = nil }
                continue
            }
            if line.hasPrefix("::stop-commands::") {
                stopToken = String(line.dropFirst("::stop-commands::".count))
                current?.body.append(line)
            } else if line.hasPrefix("::group::") {
                XCTAssertNil(current, "a group opened inside another")
                current = (String(line.dropFirst(9)), [])
            } else if line == "::endgroup::" {
                if let c = current { groups.append(c) }
                current = nil
            } else if current != nil {
                current!.body.append(line)
            }
        }
        XCTAssertNil(current)
        XCTAssertNil(stopToken, "stop-commands left on")
        XCTAssertEqual(Set(groups.map { $0.title.split(separator: " ")[1].dropLast() }), ["alpha", "beta", "inject", "version", "failing"])
        for g in groups {
            let job = String(g.title.split(separator: " ")[1].dropLast())
            guard let start = g.body.first, start.hasPrefix("::stop-commands::"), let end = g.body.last else { return XCTFail("\(g)") }
            XCTAssertEqual(end, "::" + start.dropFirst("::stop-commands::".count) + "::", "stop-commands is resumed with its own token")
            for other in ["alpha", "beta"] where other != job {
                XCTAssertFalse(g.body.contains { $0.contains("\(other) line") }, "\(other)'s lines inside \(job)'s group")
            }
        }
        let inject = try XCTUnwrap(groups.first { $0.title.contains("inject") })
        XCTAssertTrue(inject.body.contains("::warning::injected by a step"), "the step's command is printed inside stop-commands, inert")
        XCTAssertTrue(inject.body.contains("::endgroup::"), "a step's ::endgroup:: does not close shipgate's group")
        XCTAssertTrue(out.stdout.contains("::error title=failing::step `echo \"about to fail\"; exit 3` exited with code 3"), out.stdout)

        let summary = try String(contentsOfFile: s.path + "/step-summary.md", encoding: .utf8)
        CLI.assertGolden(CLI.normalize(summary, workspace: s.path), "github", "step-summary.md")
        let outputs = try String(contentsOfFile: s.path + "/github-output", encoding: .utf8)
        CLI.assertGolden(CLI.normalize(outputs, workspace: s.path), "github", "github-output")
    }

    func testValidationErrorsAreAnnotatedWithFileLineAndColumn() async throws {
        let s = try Scratch(fixture: "invalid")
        let out = try await CLI.run(["validate", "pipeline.yml"], in: s.path, environment: githubEnv(s))
        XCTAssertEqual(out.status, 2)
        let annotations = out.stdout.split(separator: "\n").filter { $0.hasPrefix("::error file=pipeline.yml,line=") }
        XCTAssertGreaterThan(annotations.count, 3, out.stdout)
        XCTAssertTrue(annotations.allSatisfy { $0.contains(",col=") && $0.contains("title=shipgate%3A invalid pipeline::") }, out.stdout)
    }

    /// Every pipeline of the repository, exported: matches its golden file, the same bytes twice.
    static let exported = ["pipelines/ci.yml", "pipelines/demo.yml", "pipelines/examples/webapp.yml", "pipelines/deploy-demo/pipeline.yml"]

    func testExportMatchesGoldensAndIsDeterministic() async throws {
        for pipeline in Self.exported {
            let first = try await CLI.run(["export", "github", pipeline], in: Self.repoRoot)
            XCTAssertEqual(first.status, 0, first.stderr)
            let second = try await CLI.run(["export", "github", pipeline], in: Self.repoRoot)
            XCTAssertEqual(first.stdout, second.stdout, "export of \(pipeline) is not deterministic")
            CLI.assertGolden(first.stdout, "export", pipeline.replacingOccurrences(of: "/", with: "_"))
        }
    }

    func testWorkflowsAndExportsPassActionlint() async throws {
        let candidates =
            [Self.repoRoot + "/.build/tools/bin/actionlint"]
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { $0 + "/actionlint" }
        guard let actionlint = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_ACTIONLINT"] == "1" {
                return XCTFail("actionlint is not installed (scripts/setup.sh installs it)")
            }
            throw XCTSkip("actionlint is not installed; scripts/setup.sh installs it")
        }
        // Our own workflows (with the action at the root), then every exported workflow.
        let own = try await CLI.shell("'\(actionlint)' -no-color 2>&1; echo \"rc=$?\"", in: Self.repoRoot)
        XCTAssertTrue(own.hasSuffix("rc=0"), own)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-actionlint-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/.github/workflows", withIntermediateDirectories: true)
        try await CLI.shell("git init -q", in: dir)
        for pipeline in Self.exported {
            let out = try await CLI.run(["export", "github", pipeline], in: Self.repoRoot)
            try out.stdout.write(toFile: dir + "/.github/workflows/" + pipeline.replacingOccurrences(of: "/", with: "_"), atomically: true, encoding: .utf8)
        }
        // With toolchains (setup actions), a tag-only job (a condition) and `github.steps-before`.
        let fixture = try await CLI.run(["export", "github", "Tests/EndToEndTests/Fixtures/export-run/pipeline.yml"], in: Self.repoRoot)
        XCTAssertEqual(fixture.status, 0, fixture.stderr)
        try fixture.stdout.write(toFile: dir + "/.github/workflows/export-run.yml", atomically: true, encoding: .utf8)
        let exported = try await CLI.shell("'\(actionlint)' -no-color 2>&1; echo \"rc=$?\"", in: dir)
        XCTAssertTrue(exported.hasSuffix("rc=0"), exported)
    }

    func testNoDepsTakesArtifactsAndOutputsFromAnotherRunner() async throws {
        let pipeline = """
            name: split
            jobs:
              build:
                steps:
                  - run: mkdir -p dist && echo "app v7" > dist/app.txt && echo "version=7" >> "$SHIPGATE_OUTPUT"
                artifacts: { paths: ["dist/**"] }
              deploy:
                needs: [build]
                steps:
                  - run: echo "deploying ${{ needs.build.outputs.version }}" && cat "$SHIPGATE_ARTIFACTS/dist/app.txt"

            """
        let a = try Scratch(fixture: "basic")
        let b = try Scratch(fixture: "basic")
        try pipeline.write(toFile: a.path + "/pipeline.yml", atomically: true, encoding: .utf8)
        try pipeline.write(toFile: b.path + "/pipeline.yml", atomically: true, encoding: .utf8)
        // Runner A builds and exports its artifacts and outputs.
        let built = try await CLI.run(
            ["run", "pipeline.yml", "--job", "build", "--no-deps", "--export-artifacts", "export"], in: a.path, environment: githubEnv(a))
        XCTAssertEqual(built.status, 0, built.stdout)
        let published = try String(contentsOfFile: a.path + "/github-output", encoding: .utf8)
        func value(_ name: String) -> String {
            published.split(separator: "\n").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) } ?? ""
        }
        XCTAssertEqual(value("outputs"), #"{"build":{"version":"7"}}"#)
        // Runner B gets them the way an exported workflow hands them over.
        try FileManager.default.copyItem(atPath: a.path + "/export", toPath: b.path + "/import")
        let needs = try JSONSerialization.data(withJSONObject: [
            "build": ["result": "success", "outputs": ["jobs": value("jobs"), "outputs": value("outputs")]]
        ])
        let deployed = try await CLI.run(
            ["run", "pipeline.yml", "--job", "deploy", "--no-deps", "--import-artifacts", "import", "--output", "plain"], in: b.path,
            environment: ["SHIPGATE_NEEDS": String(decoding: needs, as: UTF8.self)])
        XCTAssertEqual(deployed.status, 0, deployed.stdout + deployed.stderr)
        XCTAssertTrue(deployed.stdout.contains("deploying 7"), deployed.stdout)
        XCTAssertTrue(deployed.stdout.contains("app v7"), deployed.stdout)
        XCTAssertFalse(deployed.stdout.contains("[build] ▶"), "build ran elsewhere")
    }
}
