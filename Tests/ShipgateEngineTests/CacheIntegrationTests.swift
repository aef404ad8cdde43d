import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateJobCache
import ShipgateModel
import ShipgateProcess
import XCTest

/// The job cache, artifacts and dependency caches on real files and real processes.
final class CacheIntegrationTests: XCTestCase {
    var h: Harness!

    override func setUpWithError() throws { h = try Harness() }
    override func tearDown() { h.cleanUp() }

    /// Three jobs; each counts its executions in `ran/<job>` (not an input, not an output).
    let pipeline = """
        name: cached
        jobs:
          lib:
            inputs: ["lib/**"]
            outputs: ["dist/lib.txt"]
            steps:
              - run: mkdir -p dist ran && echo x >> ran/lib && cat lib/*.txt > dist/lib.txt && echo "size=$(wc -c < dist/lib.txt)" >> "$SHIPGATE_OUTPUT"
          docs:
            needs: []
            inputs: ["docs/**"]
            outputs: ["dist/docs.txt"]
            steps:
              - run: mkdir -p dist ran && echo x >> ran/docs && cp docs/index.md dist/docs.txt
          app:
            needs: [lib]
            inputs: ["app/**", "!app/tests/**"]
            outputs: ["dist/app"]
            steps:
              - run: |
                  mkdir -p dist/app ran && echo x >> ran/app
                  cp app/main.sh dist/app/main.sh && chmod 755 dist/app/main.sh
                  ln -sf main.sh dist/app/current
                  echo "lib size ${{ needs.lib.outputs.size }}" > dist/app/info.txt
        """

    private func seed() throws {
        try h.write("lib/a.txt", "alpha\n")
        try h.write("docs/index.md", "# docs\n")
        try h.write("app/main.sh", "#!/bin/sh\necho app\n")
        try h.write("app/tests/test.sh", "exit 0\n")
    }

    private func runs(_ job: String) -> Int { h.read("ran/\(job)")?.split(separator: "\n").count ?? 0 }

    func testUnchangedInputsAreRestoredWithoutRunning() async throws {
        try seed()
        let first = try await h.run(pipeline, cache: true)
        XCTAssertEqual(first.result.jobs.map(\.status), [.success, .success, .success])
        let second = try await h.run(pipeline, cache: true)
        XCTAssertEqual(second.result.status, .success)
        XCTAssertEqual(second.result.jobs.map(\.status), [.cached, .cached, .cached])
        XCTAssertEqual([runs("lib"), runs("docs"), runs("app")], [1, 1, 1], "no step ran the second time")
        XCTAssertEqual(second.job("lib")?.outputs, ["size": "6"], "job outputs come back from the cache")
        XCTAssertEqual(second.job("app")?.cachedFrom, first.result.runID)
        let started: [String] = second.events.compactMap { if case .jobStarted(let j, _) = $0 { j } else { nil } }
        XCTAssertEqual(started, [])
    }

    func testAChangedInputRerunsExactlyTheAffectedJobs() async throws {
        try seed()
        _ = try await h.run(pipeline, cache: true)
        try h.write("lib/a.txt", "alpha, edited\n")
        try h.write("app/tests/test.sh", "exit 1\n")  // excluded by `!app/tests/**`: no effect
        let out = try await h.run(pipeline, cache: true)
        XCTAssertEqual(out.job("lib")?.status, .success)
        XCTAssertEqual(out.job("docs")?.status, .cached)
        XCTAssertEqual(out.job("app")?.status, .success, "app needs lib, whose key changed")
        XCTAssertEqual([runs("lib"), runs("docs"), runs("app")], [2, 1, 2])
        XCTAssertEqual(out.notices(of: "lib"), ["cache miss: lib/a.txt changed"])
        XCTAssertTrue(
            out.notices(of: "app").contains { $0.hasPrefix("cache miss: ") && $0.contains("command of step 1 changed") && $0.contains("needs lib changed") },
            "\(out.notices(of: "app"))")
        XCTAssertEqual(h.read("dist/app/info.txt"), "lib size 14\n")
    }

    func testOutputsAreRestoredByteForByteWithModesAndSymlinks() async throws {
        try seed()
        _ = try await h.run(pipeline, cache: true)
        let before = h.read("dist/app/main.sh")
        try FileManager.default.removeItem(atPath: h.workspace + "/dist")
        let out = try await h.run(pipeline, cache: true)
        XCTAssertEqual(out.result.jobs.map(\.status), [.cached, .cached, .cached])
        XCTAssertEqual(h.read("dist/app/main.sh"), before)
        XCTAssertEqual(h.read("dist/lib.txt"), "alpha\n")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: h.workspace + "/dist/app/main.sh")[.posixPermissions] as? Int, 0o755)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: h.workspace + "/dist/app/current"), "main.sh")
    }

    func testACorruptBlobIsReportedAndTheJobRuns() async throws {
        try seed()
        _ = try await h.run(pipeline, cache: true)
        let cas = h.state + "/cache/cas"
        for prefix in try FileManager.default.contentsOfDirectory(atPath: cas) {
            for blob in try FileManager.default.contentsOfDirectory(atPath: cas + "/" + prefix) {
                chmod("\(cas)/\(prefix)/\(blob)", 0o644)
                try "corrupted".write(toFile: "\(cas)/\(prefix)/\(blob)", atomically: false, encoding: .utf8)
            }
        }
        try FileManager.default.removeItem(atPath: h.workspace + "/dist")
        let out = try await h.run(pipeline, cache: true)
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(out.result.jobs.map(\.status), [.success, .success, .success])
        XCTAssertEqual(out.warnings.filter { $0.contains("is damaged and was removed") }.count, 3, "\(out.warnings)")
        XCTAssertEqual(h.read("dist/lib.txt"), "alpha\n", "never restored from corrupt bytes")
    }

    func testNoCacheForcesExecutionButStillStores() async throws {
        try seed()
        _ = try await h.run(pipeline, cache: true)
        let forced = try await h.run(pipeline, cache: true, noCache: true)
        XCTAssertEqual(forced.result.jobs.map(\.status), [.success, .success, .success])
        XCTAssertEqual(runs("lib"), 2)
    }

    func testConcurrentRunsShareOneCache() async throws {
        let other = try Harness()
        defer { other.cleanUp() }
        for harness in [h!, other] {
            try harness.write("lib/a.txt", "alpha\n")
            try harness.write("docs/index.md", "# docs\n")
            try harness.write("app/main.sh", "#!/bin/sh\n")
        }
        let shared = h.state
        let yaml = pipeline
        let mine: Harness = h
        async let one = mine.run(yaml, cache: true, stateDirectory: shared)
        async let two = other.run(yaml, cache: true, stateDirectory: shared)
        let (a, b) = try await (one, two)
        XCTAssertEqual(a.result.status, .success)
        XCTAssertEqual(b.result.status, .success)
        let third = try await other.run(pipeline, cache: true, stateDirectory: shared)
        XCTAssertEqual(third.result.jobs.map(\.status), [.cached, .cached, .cached])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: shared + "/cache/tmp"), [])
    }

    func testAnOutputSymlinkLeavingTheWorkspaceFailsTheJob() async throws {
        try h.write("in.txt", "x")
        let out = try await h.run(
            """
            name: escape
            jobs:
              link:
                inputs: [in.txt]
                outputs: [out]
                steps: [{run: "mkdir -p out && ln -sf /etc/passwd out/secret"}]
            """, cache: true)
        XCTAssertEqual(out.job("link")?.status, .failed)
        XCTAssertEqual(out.job("link")?.reason, "output `out/secret` cannot be cached: it is a symlink to `/etc/passwd`, outside the workspace")
    }

    /// A directory replaced by a symlink between runs (planted, or swapped by a racing process):
    /// a restore never writes through it, and the cache entry, which is sound, is kept.
    func testARestoreNeverWritesThroughASymlinkedDirectory() async throws {
        try h.write("in.txt", "x")
        let yaml = """
            name: planted
            jobs:
              build:
                inputs: [in.txt]
                outputs: ["dist/out.txt"]
                steps: [{run: "rm -rf dist && mkdir dist && cp in.txt dist/out.txt"}]
            """
        let first = try await h.run(yaml, cache: true)
        XCTAssertEqual(first.job("build")?.status, .success)
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-outside-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.removeItem(atPath: h.workspace + "/dist")
        try FileManager.default.createSymbolicLink(atPath: h.workspace + "/dist", withDestinationPath: outside)
        let second = try await h.run(yaml, cache: true)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [], "nothing was written outside the workspace")
        XCTAssertEqual(second.job("build")?.status, .success, "the job ran instead")
        XCTAssertTrue(
            second.notices(of: "build").contains { $0.contains("not restoring from the cache: `dist/out.txt` is unsafe to write") },
            "\(second.notices(of: "build"))")
        let third = try await h.run(yaml, cache: true)
        XCTAssertEqual(third.job("build")?.status, .cached, "the entry was kept")
    }

    /// A job that fails after its steps (a refused artifact) stores nothing: the next run fails too.
    func testARefusedArtifactIsNeverStoredAsASuccess() async throws {
        try h.write("in.txt", "x")
        let yaml = """
            name: refused
            jobs:
              build:
                inputs: [in.txt]
                artifacts: {paths: [out]}
                steps: [{run: "mkdir -p out && ln -sf /etc/passwd out/link"}]
            """
        for _ in 0..<2 {
            let out = try await h.run(yaml, cache: true)
            XCTAssertEqual(out.job("build")?.status, .failed)
            XCTAssertEqual(out.job("build")?.reason, "artifact `out/link` refused: it is a symlink to `/etc/passwd`, outside the workspace")
        }
    }

    /// What a job publishes is part of its key: changing `artifacts.paths` reruns it.
    func testArtifactPathsArePartOfTheKey() async throws {
        try h.write("in.txt", "x")
        let make = { (path: String) in
            "name: a\njobs: {build: {inputs: [in.txt], artifacts: {paths: [\(path)]}, steps: [{run: 'mkdir -p dist && touch dist/a.txt dist/b.txt'}]}}\n"
        }
        _ = try await h.run(make("dist/a.txt"), cache: true)
        let same = try await h.run(make("dist/a.txt"), cache: true)
        XCTAssertEqual(same.job("build")?.status, .cached)
        let changed = try await h.run(make("dist/b.txt"), cache: true)
        XCTAssertEqual(changed.job("build")?.status, .success)
        XCTAssertEqual(changed.notices(of: "build"), ["cache miss: artifacts changed", "published 1 artifact (0 B)"])
    }

    /// `inputs` that match nothing would cache a job on its script alone: it runs, with a warning.
    func testInputsMatchingNothingAreAWarning() async throws {
        let out = try await h.run("name: n\njobs: {a: {inputs: ['srcs/**'], steps: [{run: 'true'}]}}\n", cache: true)
        XCTAssertEqual(out.job("a")?.status, .success)
        XCTAssertEqual(out.warnings, ["not cached: cannot compute the cache key: `inputs` matched no file (srcs/**)"])
        XCTAssertNil(out.job("a")?.cacheKey)
    }

    func testArtifactsReachTheJobsThatNeedThem() async throws {
        let out = try await h.run(
            """
            name: artifacts
            jobs:
              build:
                artifacts: {paths: ["dist/**"], expire: 1d}
                steps: [{run: "mkdir -p dist/sub && echo payload > dist/sub/app.txt"}]
              deploy:
                needs: [build]
                steps: [{run: 'cat "$SHIPGATE_ARTIFACTS/dist/sub/app.txt"'}]
            """, cache: true)
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(out.lines(of: "deploy"), ["payload"])
        XCTAssertNotNil(out.job("build")?.artifactsDigest)
        let manifest = try JSONDecoder.isoDates.decode(
            ArtifactManifest.self, from: Data(contentsOf: URL(fileURLWithPath: out.runDirectory.root + "/artifacts/build.json")))
        XCTAssertEqual(manifest.files.map(\.path), ["dist/sub/app.txt"])
        XCTAssertEqual(manifest.files[0].digest, Digest.sha256("payload\n"))
        XCTAssertEqual(manifest.expireMs, 86_400_000)
    }

    func testDependencyCachesRestoreByExactKeyOrPrefix() async throws {
        try h.write("requirements.lock", "flask==3\n")
        let yaml = """
            name: deps
            jobs:
              install:
                caches:
                  - key: "venv-${{ hashFiles('requirements.lock') }}"
                    paths: [.venv]
                    restore-keys: ["venv-"]
                steps:
                  - run: |
                      if [ -f .venv/marker ]; then echo "reused $(cat .venv/marker)"; else echo fresh; fi
                      mkdir -p .venv && cat requirements.lock > .venv/marker
            """
        let first = try await h.run(yaml, cache: true)
        XCTAssertEqual(first.lines(of: "install"), ["fresh"])
        XCTAssertTrue(first.notices(of: "install").contains { $0.hasPrefix("cache `venv-") && $0.contains("saved 1 files") })
        try FileManager.default.removeItem(atPath: h.workspace + "/.venv")
        let exact = try await h.run(yaml, cache: true)
        XCTAssertEqual(exact.lines(of: "install"), ["reused flask==3"])
        try h.write("requirements.lock", "flask==4\n")
        try FileManager.default.removeItem(atPath: h.workspace + "/.venv")
        let prefix = try await h.run(yaml, cache: true)
        XCTAssertEqual(prefix.lines(of: "install"), ["reused flask==3"], "restored the older entry by its restore key")
        XCTAssertTrue(prefix.notices(of: "install").contains { $0.contains("not found; restored `venv-") && $0.contains("(restore key `venv-`)") })
    }

    func testPlanAdvisorPredictsHitsAndExplainsRuns() async throws {
        try seed()
        _ = try await h.run(pipeline, cache: true)
        try h.write("docs/index.md", "# docs v2\n")
        let context = try CacheContext(stateDirectory: h.state, workspace: h.workspace, readOnly: true)
        let plan = await CacheAdvisor(context: context, runner: HostProcessRunner(), environment: [:]).annotate(try h.plan(pipeline))
        XCTAssertEqual(plan.job("lib")?.status, .cached)
        XCTAssertEqual(plan.job("docs")?.status, .run)
        XCTAssertEqual(plan.job("docs")?.reason, "runs: docs/index.md changed")
        XCTAssertEqual(plan.job("app")?.status, .cached, "lib's outputs are known from its entry")
        XCTAssertEqual(runs("docs"), 1, "planning ran nothing")
    }
}

extension JSONDecoder {
    static var isoDates: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
