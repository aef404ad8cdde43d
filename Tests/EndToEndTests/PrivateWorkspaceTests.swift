import Foundation
import XCTest

/// `isolation: { workspace: private }` through the binary: real copies, real git, real processes.
final class PrivateWorkspaceTests: XCTestCase {
    /// Each variant writes its own `.venv/which` and `.tox/which`, waits until the other variant
    /// has written its own, then checks its files are still its own (shared, the second write
    /// would have replaced the first). `$BARRIER` is a directory outside both workspaces.
    static let variant = #"""
        set -e
        mkdir -p .venv .tox dist
        echo "$V" > .venv/which; echo "$V" > .tox/which
        touch "$BARRIER/$V"
        i=0; while [ ! -e "$BARRIER/$OTHER" ]; do i=$((i+1)); [ $i -lt 500 ] || { echo "the other variant never started"; exit 1; }; sleep 0.02; done
        [ "$(cat .venv/which)" = "$V" ] || { echo "shared .venv: $(cat .venv/which)"; exit 1; }
        [ "$(cat .tox/which)" = "$V" ] || { echo "shared .tox"; exit 1; }
        echo "$V" > "dist/$V.txt"
        echo scratch > scratch-$V.txt
        echo "workspace=$SHIPGATE_WORKSPACE pwd=$(pwd)"
        """#

    static func pipeline(barrier: String, isolation: String = "isolation: { workspace: private }") -> String {
        """
        name: private
        jobs:
          test:
            \(isolation)
            matrix: { v: [a, b] }
            env: { V: "${{ matrix.v }}", BARRIER: "\(barrier)" }
            inputs: ["src/**"]
            outputs: ["dist/**"]
            steps:
              - run: OTHER=$([ "$V" = a ] && echo b || echo a) sh variant.sh
              - name: git sees the commit and the local changes
                run: git describe --always --dirty && git status --porcelain | sort && cat src/app.py

        """
    }

    func testParallelVariantsEachGetTheirOwnCopyAndOnlyDeclaredOutputsFlowBack() async throws {
        let barrier = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-barrier-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: barrier, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: barrier) }
        let repo = try await GateRepo(pipeline: Self.pipeline(barrier: barrier))
        try repo.write(Self.variant, to: "variant.sh")
        try await repo.sh("mkdir -p src .venv && echo 'print(1)' > src/app.py && echo main > .venv/which && echo '.venv/\n.tox/\nscratch-*' >> .gitignore")
        try await repo.commitAll("app")
        // Uncommitted work the copies must carry: a modified tracked file and a new one.
        try await repo.sh("echo 'print(2)' > src/app.py && echo new > src/new.py")

        let out = try await repo.ok(["run", "pipelines/deploy.yml", "--jobs", "2", "--output", "plain"])
        for v in ["a", "b"] {
            XCTAssertEqual(repo.read("dist/\(v).txt"), "\(v)\n", "declared output of \(v) flowed back")
            XCTAssertFalse(FileManager.default.fileExists(atPath: repo.path + "/scratch-\(v).txt"), "undeclared files stay in the copy")
            XCTAssertTrue(out.stdout.contains("[test (v=\(v))] workspace=\(repo.path)/.shipgate/workspaces/"), out.stdout)
        }
        XCTAssertEqual(repo.read(".venv/which"), "main\n", "the workspace's .venv is untouched and was not copied")
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo.path + "/.tox"))
        XCTAssertTrue(out.stdout.contains("-dirty"), out.stdout)
        XCTAssertTrue(out.stdout.contains(" M src/app.py"), out.stdout)
        XCTAssertTrue(out.stdout.contains("?? src/new.py"), out.stdout)
        XCTAssertTrue(out.stdout.contains("print(2)"), out.stdout)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: repo.path + "/.shipgate/workspaces")) ?? []
        XCTAssertEqual(left, [], "copies are removed when their job ends")
        let status = try await repo.sh("git status --porcelain --ignored=no")
        XCTAssertEqual(status.trimmingCharacters(in: .whitespacesAndNewlines), "M src/app.py\n?? src/new.py", "the repository itself is as it was")

        // Unchanged rerun: restored from the cache into the workspace, no copy made.
        try await repo.sh("rm -rf dist")
        let again = try await repo.ok(["run", "pipelines/deploy.yml", "--jobs", "2", "--output", "plain"])
        XCTAssertTrue(again.stdout.contains("cached"), again.stdout)
        XCTAssertEqual(repo.read("dist/a.txt"), "a\n")

        // The same pipeline with a shared workspace: the variants overwrite each other's .venv.
        try await repo.sh("rm -f \(barrier)/*")
        try repo.write(Self.pipeline(barrier: barrier, isolation: "isolation: { workspace: shared }"), to: "pipelines/deploy.yml")
        let shared = try await repo.shipgate(["run", "pipelines/deploy.yml", "--jobs", "2", "--no-cache", "--output", "plain"])
        XCTAssertEqual(shared.status, 1, shared.stdout)
        XCTAssertTrue(shared.stdout.contains("shared .venv"), shared.stdout)
    }

    func testAPrivateJobSeesWhatItsNeedsDeclaredAndNothingOfAFailedRun() async throws {
        let repo = try await GateRepo(
            pipeline: """
                name: flow
                jobs:
                  build:
                    outputs: ["dist/**"]
                    steps: [{ run: "mkdir -p dist && echo wheel > dist/app.whl && echo junk > dist-junk.json" }]
                  test:
                    needs: [build]
                    isolation: { workspace: private }
                    artifacts: { paths: ["report/*.xml"] }
                    steps:
                      - run: cat dist/app.whl && test ! -e dist-junk.json && test ! -e old.json
                      - run: mkdir -p report && echo '<testsuite/>' > report/junit.xml && echo changed > release.txt
                  fails:
                    needs: [build]
                    isolation: { workspace: private }
                    outputs: ["dist/fails.txt"]
                    steps: [{ run: "echo no > dist/fails.txt && exit 3" }]

                """)
        try repo.write("stale\n", to: "old.json")  // git-ignored, not an output of a need
        let out = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain"])
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("[test] wheel"), out.stdout)
        XCTAssertEqual(repo.read("report/junit.xml"), "<testsuite/>\n", "artifacts flow back")
        XCTAssertEqual(repo.read("release.txt"), "good\n", "an undeclared change stays in the copy")
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo.path + "/dist/fails.txt"), "a failed job's outputs do not flow back")
    }

    func testACopyLeftByAKilledShipgateIsRemovedByTheNextRun() async throws {
        let repo = try await GateRepo(
            pipeline: """
                name: sweep
                jobs:
                  one:
                    isolation: { workspace: private }
                    steps: [{ run: "ls -a ../ | grep -c lock" }]

                """)
        // What a shipgate killed mid-job leaves: a copy and its lock file, no process holding it.
        try await repo.sh("mkdir -p .shipgate/workspaces/dead/src && touch .shipgate/workspaces/dead.lock")
        let out = try await repo.ok(["run", "pipelines/deploy.yml", "--output", "plain"])
        XCTAssertTrue(out.stdout.contains("[one] 1"), "only the running job's lock is there: \(out.stdout)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: repo.path + "/.shipgate/workspaces")) ?? []
        XCTAssertEqual(left, [])
    }

    func testPlanSaysWhatAJobKeepsToItself() async throws {
        let repo = try await GateRepo(
            pipeline: """
                name: plan
                jobs:
                  one:
                    isolation: { workspace: private, network: private }
                    resource-group: db
                    steps: [{ run: "true" }]

                """)
        let out = try await repo.ok(["plan", "pipelines/deploy.yml"])
        XCTAssertTrue(out.stdout.contains("private network, workspace"), out.stdout)
        XCTAssertTrue(out.stdout.contains("resource-group db"), out.stdout)
        let json = try await repo.ok(["plan", "pipelines/deploy.yml", "--json"])
        XCTAssertTrue(json.stdout.contains(#""private":["network","workspace"]"#), json.stdout)
        let bad = try await repo.shipgate(["validate", "pipelines/deploy.yml"])
        XCTAssertEqual(bad.status, 0)
        try repo.write("name: x\njobs:\n  one:\n    isolation: { workspace: copy }\n    steps: [{ run: 'true' }]\n", to: "pipelines/deploy.yml")
        let invalid = try await repo.shipgate(["validate", "pipelines/deploy.yml"])
        XCTAssertEqual(invalid.status, 2)
        XCTAssertTrue((invalid.stdout + invalid.stderr).contains("pipelines/deploy.yml:4:"), invalid.stdout + invalid.stderr)
        XCTAssertTrue((invalid.stdout + invalid.stderr).contains("`isolation.workspace` must be `shared` or `private`, got `copy`"))
    }
}
