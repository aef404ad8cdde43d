import Foundation
import ShipgateCache
import ShipgateModel
import XCTest

/// Dependency caches keep symlinks as links (`.verbatim`), and a restore never writes through one.
final class VerbatimLinksTests: XCTestCase {
    var dir: String!
    var files: FileSet!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-verbatim-\(UUID().uuidString)").path
        for sub in ["ws/.venv/bin", "out", "outside"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        files = FileSet(cache: try LocalCache(root: dir + "/cache"), statCache: StatCache(path: nil))
    }

    override func tearDown() {
        _ = try? FileManager.default.subpathsOfDirectory(atPath: dir).forEach { chmod(dir + "/" + $0, 0o755) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testLinksOfEveryKindAreStoredAndRestoredAsWritten() throws {
        try "x".write(toFile: dir + "/ws/.venv/bin/tool", atomically: false, encoding: .utf8)
        let links = ["python": "/usr/bin/python3", "lib64": "lib", "up": "../../outside", "self": dir + "/ws/.venv"]
        for (name, target) in links { XCTAssertEqual(symlink(target, dir + "/ws/.venv/" + name), 0) }
        XCTAssertThrowsError(try files.collect(root: dir + "/ws", filter: PathFilter([".venv"]), skip: []), "outputs still refuse them")
        let entries = try files.collect(root: dir + "/ws", filter: PathFilter([".venv"]), skip: [], links: .verbatim)
        XCTAssertEqual(entries.filter { $0.kind == .symlink }.count, 4)
        try files.restore(entries, into: dir + "/out", links: .verbatim)
        for (name, target) in links { XCTAssertEqual(try Digest.linkTarget(dir + "/out/.venv/" + name), target) }
        XCTAssertEqual(try String(contentsOfFile: dir + "/out/.venv/bin/tool", encoding: .utf8), "x")
    }

    func testNothingIsWrittenBelowALink() throws {
        let link = FileEntry(
            path: "c/escape", kind: .symlink, mode: 0o777, size: 0, digest: Digest.sha256("symlink:" + dir + "/outside"), target: dir + "/outside")
        let digest = try files.cache.storeBlob(data: Array("owned".utf8))
        let below = FileEntry(path: "c/escape/file", kind: .file, mode: 0o644, size: 5, digest: digest)
        XCTAssertThrowsError(try files.restore([link, below], into: dir + "/out", links: .verbatim)) { error in
            XCTAssertEqual(error as? CacheError, .unsafePath("c/escape/file", reason: "`c/escape` is a symlink of the same entry"))
        }
        // A link already in the workspace is not written through either.
        XCTAssertEqual(symlink(dir + "/outside", dir + "/out/pre"), 0)
        XCTAssertThrowsError(
            try files.restore([FileEntry(path: "pre/file", kind: .file, mode: 0o644, size: 5, digest: digest)], into: dir + "/out", links: .verbatim))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/outside"), [])
    }

    func testADirectoryPatternTakesTheWholeDirectory() {
        let filter = PathFilter([".cache/uv-py*", "!.cache/uv-py*/tmp"], takingDirectories: true)
        XCTAssertTrue(filter.includes(".cache/uv-py3.12/a/b.py"))
        XCTAssertFalse(filter.includes(".cache/uv-py3.12/tmp/x"))
        XCTAssertFalse(filter.includes(".cache/pip/x"))
        XCTAssertFalse(PathFilter([".cache/uv-py*"]).includes(".cache/uv-py3.12/a/b.py"), "inputs and outputs keep glob semantics")
    }
}
