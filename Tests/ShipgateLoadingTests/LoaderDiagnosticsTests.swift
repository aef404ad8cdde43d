import ShipgateLoading
import ShipgateModel
import XCTest

/// Every class of bad input gets a located diagnostic; none crashes or hangs the loader.
final class LoaderDiagnosticsTests: XCTestCase {
    /// `line:col: message` of each diagnostic, in file order.
    private func problems(_ yaml: String) -> [String] {
        let result = PipelineLoader.load(text: yaml, file: "p.yml")
        return result.diagnostics.map { d in
            "\(d.location.map { "\($0.line):\($0.column)" } ?? "-"): \(d.message)"
        }
    }

    private func hints(_ yaml: String) -> [String] {
        PipelineLoader.load(text: yaml, file: "p.yml").diagnostics.compactMap(\.hint)
    }

    func testValidPipelineHasNoDiagnostics() {
        let yaml = """
            name: ok
            jobs:
              a:
                steps:
                  - run: echo hi
            """
        let result = PipelineLoader.load(text: yaml, file: "p.yml")
        XCTAssertEqual(result.diagnostics, [])
        XCTAssertEqual(result.pipeline?.jobs.map(\.id), ["a"])
        XCTAssertTrue(result.pipeline?.digest.hasPrefix("sha256:") ?? false)
    }

    func testMultipleDocumentsAreRefused() {
        XCTAssertEqual(problems("name: a\njobs: {a: {steps: [{run: x}]}}\n---\nname: b\n"), ["3:1: file holds more than one YAML document"])
    }

    func testUndefinedAlias() {
        XCTAssertEqual(problems("name: *nope\njobs: {}\n"), ["1:7: alias `*nope` refers to no anchor"])
    }

    func testSyntaxErrorIsLocated() {
        let yaml = """
            name: bad
            jobs:
              a:
                steps: [
            """
        let p = problems(yaml)
        XCTAssertEqual(p.count, 1)
        XCTAssertTrue(p[0].hasPrefix("5:1: YAML syntax error") || p[0].hasPrefix("4:"), p[0])
    }

    func testTabIndentationGetsHint() {
        let p = PipelineLoader.load(text: "name: x\njobs:\n\ta: 1\n", file: "p.yml").diagnostics
        XCTAssertEqual(p.first?.location?.line, 3)
        XCTAssertEqual(p.first?.hint, "indent with spaces, not tabs")
    }

    func testDuplicateKeys() {
        let yaml = """
            name: dup
            jobs:
              a:
                steps:
                  - run: one
                steps:
                  - run: two
            """
        XCTAssertEqual(problems(yaml), ["6:5: duplicate key `steps` in job `a`"])
        XCTAssertEqual(hints(yaml), ["first defined at p.yml:4:5; remove one of them"])
    }

    func testUnknownKeysSuggestTheClosest() {
        let yaml = """
            name: typo
            jobs:
              a:
                need: [b]
                steps:
                  - run: x
                    timout: 1m
              b:
                steps: [{run: y}]
            """
        XCTAssertEqual(problems(yaml), ["4:5: unknown key `need` in job `a`", "7:9: unknown key `timout` in a step"])
        XCTAssertEqual(hints(yaml), ["did you mean `needs`?", "did you mean `timeout`?"])
    }

    func testWrongTypes() {
        let yaml = """
            name: [1, 2]
            jobs:
              a:
                continue-on-error: maybe
                retry: {attempts: many}
                steps: {run: x}
            """
        XCTAssertEqual(
            problems(yaml),
            [
                "1:7: `name` must be a string, got a list",
                "4:24: `continue-on-error` must be true or false, got `maybe`",
                "5:23: `retry.attempts` must be a whole number, got `many`",
                "6:12: `steps` must be a list, got a mapping",
            ])
    }

    func testBadDurations() {
        let yaml = """
            name: d
            defaults: {timeout: 10 minutes}
            jobs:
              a:
                timeout: 5x
                retry: {attempts: 2, backoff: -1s}
                steps:
                  - run: x
                    timeout: ""
            """
        XCTAssertEqual(
            problems(yaml),
            [
                "2:21: invalid duration `10 minutes` for `defaults.timeout`",
                "5:14: invalid duration `5x` for `timeout`",
                "6:35: invalid duration `-1s` for `retry.backoff`",
                "9:18: invalid duration `` for `timeout`",
            ])
    }

    func testZeroTimeoutsAndBadNeedsAndAxes() {
        let yaml = """
            name: z
            jobs:
              a:
                timeout: 0s
                needs:
                matrix: {-x: [1]}
                steps: [{run: x, timeout: 0}]
            """
        XCTAssertEqual(
            problems(yaml),
            [
                "4:14: `timeout` must be longer than 0",
                "5:11: `needs` must be a job id or a list of job ids",
                "6:13: `matrix` has no axes",
                "6:14: `-x` is not a valid matrix axis name",
                "7:31: `timeout` must be longer than 0",
            ])
    }

    func testCachePathsMustStayInTheWorkspace() {
        let yaml = """
            name: paths
            jobs:
              a:
                inputs: ["src/**", "../secrets/**", "!/etc/**"]
                outputs: [dist/../../x]
                artifacts: {paths: ["~/.ssh/id_rsa"]}
                caches:
                  - key: "k-${{ hashFiles('../x') }}"
                    paths: [/var/cache]
                steps: [{run: x}]
            """
        XCTAssertEqual(
            problems(yaml),
            [
                "4:24: `inputs` pattern `../secrets/**` leaves the workspace (`..`)",
                "4:41: `inputs` pattern `!/etc/**` is absolute",
                "5:15: `outputs` pattern `dist/../../x` leaves the workspace (`..`)",
                "6:25: `artifacts.paths` pattern `~/.ssh/id_rsa` is absolute",
                "8:17: `hashFiles` pattern `../x` leaves the workspace (`..`)",
                "9:17: `caches.paths` pattern `/var/cache` is absolute",
            ])
    }

    func testInterpolationInPathPatternsIsRefused() {
        let yaml = """
            name: i
            jobs:
              a:
                matrix: {s: [api]}
                inputs: ["services/${{ matrix.s }}/**"]
                cache-key-extra: ["echo ${{ matrix.s }}"]
                artifacts: {paths: [dist], expire: 0}
                steps: [{run: x}]
            """
        XCTAssertEqual(
            problems(yaml),
            [
                "5:14: `inputs` pattern `services/${{ matrix.s }}/**` uses `${{ }}`, which is not interpolated in path patterns",
                "6:23: `cache-key-extra` command `echo ${{ matrix.s }}` uses `${{ }}`, which is not interpolated there",
                "7:40: `artifacts.expire` must be longer than 0",
            ])
    }

    func testGitContextKeysAreChecked() {
        XCTAssertEqual(
            problems("name: g\nenv: {V: \"${{ git.verison }}\"}\njobs: {a: {steps: [{run: 'echo ${{ git.branch }}'}]}}\n"),
            [
                "2:11: unknown git context `git.verison`"
            ])
        XCTAssertEqual(hints("name: g\nenv: {V: \"${{ git.verison }}\"}\njobs: {a: {steps: [{run: x}]}}\n"), ["did you mean `version`?"])
    }

    func testCacheKeysParse() throws {
        let yaml = """
            name: c
            jobs:
              a:
                inputs: "src/**"
                cache-key-extra: ["python3 --version"]
                caches: [{key: "pip-${{ hashFiles('requirements.lock', 'setup.cfg') }}", paths: [.venv], restore-keys: ["pip-"]}]
                steps: [{run: x}]
              b:
                outputs: [dist]
                steps: [{run: x}]
            """
        let result = PipelineLoader.load(text: yaml, file: "p.yml")
        let a = try XCTUnwrap(result.pipeline?.jobs.first)
        XCTAssertEqual(a.cache?.inputs.map(\.value), ["src/**"])
        XCTAssertEqual(a.cache?.keyExtra.map(\.value), ["python3 --version"])
        XCTAssertEqual(a.caches.first?.key.segments, [.literal("pip-"), .expression(.hashFiles(["requirements.lock", "setup.cfg"]))])
        XCTAssertEqual(
            result.diagnostics.map(\.message),
            ["`outputs` without `inputs`: the job is never cached (its outputs still flow out of and into private workspaces)"])
        XCTAssertEqual(result.diagnostics.first?.severity, .warning)
    }

    func testEmptyStepsAndMissingSteps() {
        let yaml = """
            name: e
            jobs:
              a:
                steps: []
              b:
                stage: test
            """
        XCTAssertEqual(problems(yaml), ["4:12: job `a` has no steps", "5:3: job `b` has no `steps`"])
    }

    func testMissingRequiredTopLevelKeys() {
        XCTAssertEqual(problems("env: {A: b}\n"), ["1:1: missing required key `jobs`"], "`name` is optional")
    }

    func testUnresolvableInterpolations() {
        let yaml = """
            name: i
            env:
              GLOBAL: "1"
            jobs:
              a:
                steps:
                  - run: echo hi >> "$SHIPGATE_OUTPUT"
              b:
                needs: [a]
                matrix: {py: ["3.11"]}
                env: {X: "${{ matrix.python }}"}
                steps:
                  - run: echo ${{ env.GLOBL }} ${{ needs.a.outputs.v }} ${{ needs.c.outputs.v }} ${{ github.sha }}
            """
        XCTAssertEqual(
            problems(yaml),
            [
                "11:15: unknown matrix axis `python` in job `b`",
                "13:19: unknown env `GLOBL`",
                "13:61: `needs.c.outputs` used in job `b`, which does not list `c` in `needs`",
                "13:86: unknown expression `github.sha` in `${{ }}`",
            ])
        XCTAssertEqual(hints(yaml).prefix(2), ["axes: py", "did you mean `GLOBAL`?"])
    }

    func testInterpolationInBlockScalarPointsAtTheLine() {
        let yaml = """
            name: b
            jobs:
              a:
                steps:
                  - run: |
                      echo start
                      echo ${{ env.NOPE }}
            """
        XCTAssertEqual(problems(yaml), ["7:16: unknown env `NOPE`"])
    }

    func testEmptyFile() {
        XCTAssertEqual(problems(""), ["1:1: file is empty"])
        XCTAssertEqual(problems("# only a comment\n\n"), ["1:1: file is empty"])
    }

    func testBinaryGarbage() {
        var bytes: [UInt8] = Array("name: x\n".utf8)
        bytes += [0x00, 0xFF, 0xFE, 0x01]
        let nul = PipelineLoader.load(bytes: bytes, file: "bin").diagnostics
        XCTAssertEqual(nul.map(\.message), ["file contains a NUL byte: this is not a text file"])
        XCTAssertEqual(nul.first?.location?.line, 2)
        let latin1 = PipelineLoader.load(bytes: [0x6E, 0x61, 0xE9, 0xFF, 0x3A], file: "bin").diagnostics
        XCTAssertEqual(latin1.map(\.message), ["file is not valid UTF-8 text"])
        // A few thousand random byte strings: always diagnostics, never a crash.
        var generator = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let length = Int(generator.next() % 64)
            let random = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let result = PipelineLoader.load(bytes: random, file: "fuzz")
            XCTAssertTrue(result.pipeline == nil || result.diagnostics.allSatisfy { $0.severity == .warning })
        }
    }

    func testDeepNestingIsRefused() {
        let deep = "name: x\njobs: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        let p = PipelineLoader.load(text: deep, file: "deep.yml").diagnostics
        XCTAssertEqual(p.map(\.message), ["YAML nesting is deeper than 1000 levels"])
    }

    func testAliasBombIsRefused() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        yaml += "name: bomb\njobs: {a: {steps: [{run: x}]}}\n"
        let start = ContinuousClock.now
        let p = PipelineLoader.load(text: yaml, file: "bomb.yml").diagnostics
        XCTAssertEqual(p.map(\.message), ["document expands to more than 200000 YAML nodes (alias bomb?)"])
        // Not a timing assertion on speed, a guard against an effectively endless expansion.
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(30))
    }

    func testOversizedFileIsRefused() {
        let big = [UInt8](repeating: 0x20, count: (4 << 20) + 1)
        XCTAssertEqual(PipelineLoader.load(bytes: big, file: "big").diagnostics.map(\.message), ["file is 4194305 bytes; pipeline files are limited to 4 MiB"])
    }

    func testPathsThatLeaveTheWorkspace() {
        let yaml = """
            name: w
            jobs:
              a:
                working-directory: ../elsewhere
                steps:
                  - run: x
                    working-directory: /etc
            """
        XCTAssertEqual(
            problems(yaml),
            [
                "4:24: `working-directory` `../elsewhere` leaves the workspace",
                "7:28: `working-directory` `/etc` leaves the workspace",
            ])
    }

    func testStagesMustBeDeclared() {
        let yaml = """
            name: s
            stages: [lint, test]
            jobs:
              a:
                stage: tset
                steps: [{run: x}]
            """
        XCTAssertEqual(problems(yaml), ["4:3: job `a` names stage `tset`, which is not in `stages`"])
        XCTAssertEqual(hints(yaml), ["did you mean `test`?"])
    }

    func testMissingFileAndDirectory() {
        XCTAssertEqual(PipelineLoader.load(path: "/nonexistent/p.yml").diagnostics.map(\.message), ["no such file: /nonexistent/p.yml"])
        XCTAssertEqual(PipelineLoader.load(path: "/tmp").diagnostics.map(\.message), ["/tmp is a directory, not a pipeline file"])
    }
}

/// Deterministic pseudo-random numbers for generated inputs.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
