import Foundation
import ShipgateLoading
import ShipgateModel
import XCTest

/// A workflow as the model the engine runs: jobs, steps and expressions as written, the
/// matrix expanded, refusals with their location, and the repository's composite actions.
final class WorkflowLoweringTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "lowering-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/.github/workflows", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    private func write(_ path: String, _ text: String) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    private func load(_ yaml: String, actions: (any ActionSource)? = nil) throws -> WorkflowLoader.Result {
        try write(".github/workflows/ci.yml", yaml)
        return WorkflowLoader.load(path: root + "/.github/workflows/ci.yml", actions: actions)
    }

    func testJobsStepsAndMatrixBecomeTheModel() throws {
        let result = try load(
            """
            on: push
            env: { A: "1" }
            defaults: { run: { shell: sh, working-directory: app } }
            jobs:
              test:
                if: github.ref == 'refs/heads/main'
                runs-on: ${{ matrix.os }}
                timeout-minutes: 5
                continue-on-error: ${{ matrix.experimental }}
                strategy:
                  fail-fast: false
                  max-parallel: 2
                  matrix:
                    os: [ubuntu-latest]
                    py: [3.10, "3.12"]
                    include: [{ py: "3.12", experimental: true }]
                outputs: { v: "${{ steps.x.outputs.v }}" }
                steps:
                  - id: x
                    name: Step ${{ matrix.py }}
                    run: echo v=1 >> "$GITHUB_OUTPUT"
                    env: { B: "${{ env.A }}" }
                  - uses: actions/checkout@v4
                    with: { fetch-depth: 0 }
            """)
        let pipeline = try XCTUnwrap(result.pipeline, result.diagnostics.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(pipeline.origin, .githubWorkflow)
        let job = try XCTUnwrap(pipeline.job("test"))
        let github = try XCTUnwrap(job.github)
        XCTAssertEqual(github.condition, "github.ref == 'refs/heads/main'")
        XCTAssertEqual(github.runsOn, ["${{ matrix.os }}"])
        XCTAssertEqual(github.workflowEnv.map(\.name), ["A"])
        XCTAssertEqual(github.defaultShell, "sh")
        XCTAssertEqual(github.defaultWorkingDirectory, "app")
        XCTAssertFalse(github.failFast)
        XCTAssertEqual(github.maxParallel, 2)
        XCTAssertEqual(github.variantCount, 2)
        XCTAssertNil(github.refusal)
        XCTAssertEqual(github.outputs.first?.text, "${{ steps.x.outputs.v }}")
        let variants = try XCTUnwrap(job.matrix?.combinations())
        XCTAssertEqual(variants.map { $0.map(\.value) }, [["ubuntu-latest", "3.1"], ["ubuntu-latest", "3.12", "true"]])
        XCTAssertEqual(variants[0][1].json, "3.1", "3.10 is a YAML number, as on GitHub")
        XCTAssertEqual(job.steps[0].github?.name, "Step ${{ matrix.py }}")
        XCTAssertEqual(job.steps[0].github?.env.first?.text, "${{ env.A }}")
        XCTAssertEqual(job.steps[1].github?.uses, "actions/checkout@v4")
        XCTAssertEqual(job.steps[1].github?.with.first?.text, "0")
        XCTAssertEqual(job.steps[1].name, "Run actions/checkout@v4")
    }

    func testRefusalsSayWhereAndWhy() throws {
        let result = try load(
            """
            on: push
            jobs:
              c:
                runs-on: ubuntu-latest
                container: { image: "python:3.12" }
                steps: [{ run: "true" }]
              r:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
                  - uses: astral-sh/setup-uv@v3
              m:
                runs-on: ubuntu-latest
                strategy: { matrix: "${{ fromJSON(needs.x.outputs.m) }}" }
                steps: [{ run: "true" }]
              k:
                runs-on: ubuntu-latest
                strategy: { matrix: "${{ fromJSON('{\\"n\\": [1, 2]}') }}" }
                steps: [{ run: "true" }]
            """)
        let pipeline = try XCTUnwrap(result.pipeline, result.diagnostics.map(\.description).joined(separator: "\n"))
        let file = root + "/.github/workflows/ci.yml"
        XCTAssertEqual(pipeline.job("c")?.github?.refusal?.hasPrefix("\(file):5:16: runs in the container `python:3.12`"), true)
        XCTAssertNil(pipeline.job("r")?.github?.refusal, "an action of another repository is fetched by the run")
        XCTAssertEqual(pipeline.job("m")?.github?.refusal?.contains("known only when the run starts"), true)
        XCTAssertNil(pipeline.job("k")?.github?.refusal, "a matrix from a constant expression is expanded before the run")
        XCTAssertEqual(pipeline.job("k")?.matrix?.combinations().count, 2)
    }

    func testCompositeActionsAreReadRecursively() throws {
        try write(
            ".github/actions/outer/action.yml",
            """
            name: Outer
            inputs: { who: { required: true }, greeting: { default: "hi" } }
            outputs: { said: { value: "${{ steps.s.outputs.said }}" } }
            runs:
              using: composite
              steps:
                - id: s
                  run: echo said=${{ inputs.greeting }} >> "$GITHUB_OUTPUT"
                  shell: bash
                - uses: ./.github/actions/inner
            """)
        try write(".github/actions/inner/action.yaml", "runs:\n  using: composite\n  steps:\n    - run: echo inner\n      shell: sh\n")
        let result = try load(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./.github/actions/outer\n        with: { who: me }\n")
        let pipeline = try XCTUnwrap(result.pipeline, result.diagnostics.map(\.description).joined(separator: "\n"))
        let composite = try XCTUnwrap(pipeline.job("a")?.steps.first?.github?.composite)
        XCTAssertEqual(composite.name, "Outer")
        XCTAssertEqual(composite.directory, ".github/actions/outer")
        XCTAssertEqual(composite.inputs.map(\.name), ["who", "greeting"])
        XCTAssertEqual(composite.inputs[1].defaultText, "hi")
        XCTAssertEqual(composite.outputs.first?.text, "${{ steps.s.outputs.said }}")
        XCTAssertEqual(composite.steps[1].composite?.steps.first?.run, "echo inner")
    }

    func testCompositeActionProblems() throws {
        try write(".github/actions/noshell/action.yml", "runs:\n  using: composite\n  steps:\n    - run: echo hi\n")
        try write(".github/actions/docker/action.yml", "runs:\n  using: docker\n  image: Dockerfile\n")
        try write(".github/actions/loop/action.yml", "runs:\n  using: composite\n  steps:\n    - uses: ./.github/actions/loop\n")
        let noShell = try load("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./.github/actions/noshell\n")
        XCTAssertTrue(
            noShell.diagnostics.contains {
                $0.description.contains(".github/actions/noshell/action.yml:4:7: error: a `run` step of a composite action must name its `shell`")
            },
            noShell.diagnostics.map(\.description).joined(separator: "\n"))
        for (dir, expected) in [
            ("docker", "is a Docker action, which shipgate does not run"), ("loop", "use each other in a cycle"),
            ("missing", "no action.yml in .github/actions/missing"), ("../../../outside", "leaves the repository"),
        ] {
            let result = try load("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./.github/actions/\(dir)\n")
            let refusal = try XCTUnwrap(result.pipeline?.job("a")?.github?.refusal, result.diagnostics.map(\.description).joined(separator: "\n"))
            XCTAssertTrue(refusal.contains(expected), refusal)
        }
    }

    /// `$/path` reads the action as committed (the source's `committed: true`), `./path` the working tree.
    func testSelfRepositoryActionsReadTheCommittedCopy() throws {
        struct Source: ActionSource {
            func read(_ path: String, committed: Bool) -> [UInt8]? {
                guard path == ".github/actions/a/action.yml" else { return nil }
                return Array("runs:\n  using: composite\n  steps:\n    - run: echo \(committed ? "committed" : "working")\n      shell: sh\n".utf8)
            }
        }
        let result = try load(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: $/.github/actions/a\n      - uses: ./.github/actions/a\n",
            actions: Source())
        let steps = try XCTUnwrap(result.pipeline?.job("a")?.steps)
        XCTAssertEqual(steps[0].github?.composite?.steps.first?.run, "echo committed")
        XCTAssertEqual(steps[0].github?.composite?.fromCommit, true)
        XCTAssertEqual(steps[1].github?.composite?.steps.first?.run, "echo working")
    }

    func testServicesJavaScriptActionsAndActionsOfOtherRepositories() throws {
        try write(
            ".github/actions/js/action.yml",
            """
            name: local js
            inputs: { who: { default: "${{ github.actor }}" } }
            outputs: { said: { description: set by the script } }
            runs: { using: node20, main: dist/main.js, post: dist/post.js, post-if: failure() }
            """)
        try write(".github/actions/no-main/action.yml", "runs: { using: node24 }\n")
        let result = try load(
            """
            on: push
            jobs:
              svc:
                runs-on: ubuntu-latest
                services:
                  db:
                    image: postgres:${{ matrix.pg }}
                    env: { POSTGRES_PASSWORD: pw }
                    ports: ["5432:5432", "8080"]
                    options: --health-cmd pg_isready
                    volumes: [/data]
                  cache: redis
                strategy: { matrix: { pg: [15, 16] } }
                steps:
                  - uses: ./.github/actions/js
                  - uses: astral-sh/setup-uv@v6
                  - uses: acme/tools/sub/dir@0123456789abcdef0123456789abcdef01234567
            """)
        let pipeline = try XCTUnwrap(result.pipeline, result.diagnostics.map(\.description).joined(separator: "\n"))
        let svc = try XCTUnwrap(pipeline.job("svc")?.github)
        XCTAssertNil(svc.refusal, "services and actions of other repositories run now")
        XCTAssertEqual(svc.services.map(\.id), ["db", "cache"])
        XCTAssertEqual(svc.services[0].image, "postgres:${{ matrix.pg }}")
        XCTAssertEqual(svc.services[0].ports, ["5432:5432", "8080"])
        XCTAssertEqual(svc.services[0].env.first?.text, "pw")
        XCTAssertEqual(svc.services[0].options, "--health-cmd pg_isready")
        XCTAssertEqual(svc.services[1].image, "redis")
        XCTAssertTrue(result.diagnostics.contains { $0.severity == .warning && $0.message.contains("`volumes` is ignored") })
        let js = try XCTUnwrap(pipeline.job("svc")?.steps.first?.github?.composite?.javascript)
        XCTAssertEqual(js, JavaScriptAction(using: "node20", main: "dist/main.js", post: "dist/post.js", postIf: "failure()"))
        XCTAssertEqual(
            FetchedActions.uses(in: pipeline.job("svc")!.steps.compactMap(\.github)),
            [
                "astral-sh/setup-uv@v6", "acme/tools/sub/dir@0123456789abcdef0123456789abcdef01234567",
            ])
        let broken = try load("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./.github/actions/no-main\n")
        XCTAssertTrue(
            broken.diagnostics.contains { $0.description.contains(".github/actions/no-main/action.yml:1:7: error: a JavaScript action needs `runs.main`") },
            broken.diagnostics.map(\.description).joined(separator: "\n"))
    }

    func testActionReferencesAndServiceImages() {
        XCTAssertEqual(RemoteAction.parse("actions/cache/restore@v4").map { [$0.repository, $0.subpath, $0.ref] }, ["actions/cache", "restore", "v4"])
        XCTAssertEqual(RemoteAction.parse("o/r@feature/x").map { [$0.repository, $0.subpath, $0.ref] }, ["o/r", "", "feature/x"])
        for bad in ["o@v1", "o/r", "o/r@", "o/../r@v1", "o//r@v1", "o/r@v 1", "o/r\\x@v1"] { XCTAssertNil(RemoteAction.parse(bad), bad) }
        XCTAssertTrue(FetchedActions.isPinned("o/r@0123456789abcdef0123456789abcdef01234567"))
        XCTAssertFalse(FetchedActions.isPinned("o/r@v4"))
        XCTAssertFalse(FetchedActions.isPinned("o/r@0123456789abcdef0123456789abcdef0123456"), "39 digits")
        XCTAssertEqual(ServiceImage(image: "postgres:16-alpine"), .postgres)
        XCTAssertEqual(ServiceImage(image: "docker.io/library/redis@sha256:abc"), .redis)
        XCTAssertEqual(ServiceImage(image: "ghcr.io/x/memcached:1.6"), .memcached)
        XCTAssertEqual(ServiceImage.split("registry:5000/team/postgres:15.4").tag, "15.4")
        XCTAssertEqual(ServiceImage(image: "mariadb:11"), .mysql)
        XCTAssertEqual(ServiceImage(image: "mysql:8"), .mysql)
        XCTAssertNil(ServiceImage(image: "mongo:7"))
        XCTAssertTrue(
            ServiceImage.refusal(image: "mongo:7", id: "db")?.contains("service `db` uses the image `mongo:7`, which has no local equivalent") ?? false)
        XCTAssertNil(ServiceImage.refusal(image: "", id: "none"), "an empty image starts no service")
    }

    func testAFetchedActionFileIsCheckedLikeALocalOne() throws {
        let dir = root + "/fetched"
        try write("fetched/action.yml", "name: x\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n")
        let (action, refusal) = RemoteActionReader.read(directory: dir, uses: "o/r@v1", workspace: WorkingTreeActions(root: root))
        XCTAssertNil(action)
        XCTAssertTrue(refusal?.contains("o/r@v1: action.yml:5:7: a `run` step of a composite action must name its `shell`") ?? false, refusal ?? "")
        try write("fetched/action.yml", "runs: { using: docker, image: Dockerfile }\n")
        XCTAssertTrue(
            RemoteActionReader.read(directory: dir, uses: "o/r@v1", workspace: WorkingTreeActions(root: root)).refusal?.contains("is a Docker action") ?? false)
        try FileManager.default.removeItem(atPath: dir + "/action.yml")
        XCTAssertEqual(
            RemoteActionReader.read(directory: dir, uses: "o/r@v1", workspace: WorkingTreeActions(root: root)).refusal,
            "`o/r@v1` has no action.yml (nor action.yaml) at the fetched commit")
        try write("fetched/action.yaml", "runs: { using: node24, main: index.js, pre: setup.js, pre-if: runner.os == 'Linux' }\n")
        let js = RemoteActionReader.read(directory: dir, uses: "o/r@v1", workspace: WorkingTreeActions(root: root)).action?.javascript
        XCTAssertEqual(js?.nodeMajor, 24)
        XCTAssertEqual(js?.preIf, "runner.os == 'Linux'")
    }
}
