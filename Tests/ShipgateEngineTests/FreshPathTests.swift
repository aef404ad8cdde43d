import Foundation
import ShipgateEngine
import ShipgateJobCache
import XCTest

/// The no-op fast path through the executor, on real files: a job whose entry's files are in
/// place is cached without reading its entry, and any change to those files, to the inputs or
/// to the entry takes the full path again.
final class FreshPathTests: XCTestCase {
    var h: Harness!

    override func setUpWithError() throws { h = try Harness() }
    override func tearDown() { h.cleanUp() }

    let pipeline = """
        name: fresh
        jobs:
          build:
            inputs: ["src/**"]
            outputs: ["dist/**"]
            steps:
              - run: mkdir -p dist ran && echo x >> ran/build && cat src/*.txt > dist/out.txt && echo "lines=$(wc -l < dist/out.txt)" >> "$SHIPGATE_OUTPUT"
        """

    private func runs() -> Int { h.read("ran/build")?.split(separator: "\n").count ?? 0 }
    private var inPlace: String { "cached: same key as run" }

    private func run() async throws -> Harness.Outcome { try await h.run(pipeline, cache: true, racyWindow: 0) }

    func testAnUnchangedJobIsCachedFromItsRecordWithTheSameOutputs() async throws {
        try h.write("src/a.txt", "one\n")
        let first = try await run()
        XCTAssertEqual(first.job("build")?.status, .success)
        let second = try await run()
        XCTAssertEqual(second.job("build")?.status, .cached)
        XCTAssertEqual(second.job("build")?.outputs, ["lines": "1"], "outputs come from the record")
        XCTAssertEqual(second.job("build")?.cachedFrom, first.result.runID)
        XCTAssertEqual(second.notices(of: "build"), ["cached: same key as run \(first.result.runID); 1 file already in place"])
        let decision = CacheDecision.read(runDirectory: second.runDirectory.root, job: "build")
        XCTAssertEqual(decision?.status, .hit)
        XCTAssertTrue(decision?.reasons.first?.contains("unchanged in the workspace") ?? false, "\(decision?.reasons ?? [])")
        XCTAssertEqual(runs(), 1)
    }

    func testAnEditedOutputIsRestoredNotTrusted() async throws {
        try h.write("src/a.txt", "one\n")
        _ = try await run()
        try h.write("dist/out.txt", "tampered\n")
        let out = try await run()
        XCTAssertEqual(out.job("build")?.status, .cached)
        XCTAssertTrue(out.notices(of: "build").first?.hasPrefix("cached: restored 1 file") ?? false, "\(out.notices(of: "build"))")
        XCTAssertEqual(h.read("dist/out.txt"), "one\n")
        // Restored just now: recorded again by the next run, which then takes the fast path.
        _ = try await run()
        let again = try await run()
        XCTAssertTrue(again.notices(of: "build").first?.hasPrefix(inPlace) ?? false, "\(again.notices(of: "build"))")
        XCTAssertEqual(runs(), 1)
    }

    func testADeletedOutputOrAChangedInputTakesTheFullPath() async throws {
        try h.write("src/a.txt", "one\n")
        _ = try await run()
        try FileManager.default.removeItem(atPath: h.workspace + "/dist/out.txt")
        let restored = try await run()
        XCTAssertTrue(restored.notices(of: "build").first?.hasPrefix("cached: restored 1 file") ?? false, "\(restored.notices(of: "build"))")
        try h.write("src/b.txt", "two\n")
        let changed = try await run()
        XCTAssertEqual(changed.job("build")?.status, .success, "a new input file changes the key")
        XCTAssertEqual(changed.job("build")?.outputs, ["lines": "2"])
        XCTAssertEqual(runs(), 2)
    }

    func testAPrunedEntryIsNotClaimedFromTheRecord() async throws {
        try h.write("src/a.txt", "one\n")
        _ = try await run()
        let actions = h.state + "/cache/ac"
        for name in try FileManager.default.contentsOfDirectory(atPath: actions) { try FileManager.default.removeItem(atPath: actions + "/" + name) }
        let out = try await run()
        XCTAssertEqual(out.job("build")?.status, .success, "no entry: the job runs, whatever the record says")
        XCTAssertEqual(runs(), 2)
    }
}
