import Foundation
import ShipgateCache
import ShipgateModel
import XCTest

/// Symlinks in stored file sets are resolved, not judged by their text: on real temporary trees.
final class LinkChainTests: XCTestCase {
    var dir: String!
    var files: FileSet!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-links-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/ws", withIntermediateDirectories: true)
        files = FileSet(cache: try LocalCache(root: dir + "/cache"), statCache: StatCache(path: nil))
    }

    override func tearDown() {
        // Blobs are read-only; make them removable.
        _ = try? FileManager.default.subpathsOfDirectory(atPath: dir).forEach { chmod(dir + "/" + $0, 0o755) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func write(_ path: String, _ text: String) throws {
        let full = dir + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: false, encoding: .utf8)
    }

    /// Makes `path` (under `dir`) a symlink to `target`, creating its parents.
    private func link(_ path: String, _ target: String) throws {
        let full = dir + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(target, full), 0, "symlink \(path)")
    }

    private func collect(_ patterns: [String]) throws -> [FileEntry] {
        try files.collect(root: dir + "/ws", filter: PathFilter(patterns), skip: [])
    }

    /// Asserts that `body` throws `.unsafePath(path, …)` whose reason contains every one of `parts`.
    private func assertRefused(
        _ path: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> some Any
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case .unsafePath(let refused, let reason) = error as? CacheError else {
                return XCTFail("not an unsafe path: \(error)", file: file, line: line)
            }
            XCTAssertEqual(refused, path, reason, file: file, line: line)
            for part in parts { XCTAssertTrue(reason.contains(part), "`\(part)` not in: \(reason)", file: file, line: line) }
        }
    }

    // MARK: collect

    func testAChainThroughASymlinkedDirectoryThatEscapesIsRefused() throws {
        try write("outside/x", "payload that could be swapped after approval")
        try link("ws/b", "../outside")
        try link("ws/a", "b/x")  // lexically `b/x`, inside
        assertRefused("a", ["resolves to `\(dir!)/outside/x` (through `b`), outside the workspace"]) { try collect(["a"]) }

        try link("ws/etc", "/etc")
        try link("ws/passwd", "etc/passwd")
        assertRefused("passwd", ["resolves to `/etc/passwd` (through `etc`), outside the workspace"]) { try collect(["passwd"]) }
    }

    func testATwoLinkChainThatEscapesIsRefused() throws {
        try write("outside.txt", "outside")
        try link("ws/dist/app", "link2")
        try link("ws/dist/link2", "../../outside.txt")
        assertRefused("dist/app", ["resolves to `\(dir!)/outside.txt` (through `dist/link2`), outside the workspace"]) { try collect(["dist"]) }
        // The second link alone is refused by its own text.
        assertRefused("dist/link2", ["it is a symlink to `../../outside.txt`, outside the workspace"]) { try collect(["dist/link2"]) }
    }

    func testALinkLoopIsRefused() throws {
        try link("ws/a", "b")
        try link("ws/b", "a")
        assertRefused("a", ["more than 40 links followed (through `b`), a loop"]) { try collect(["a", "b"]) }
        try link("ws/self", "./self")
        assertRefused("self", ["more than 40 links followed, a loop"]) { try collect(["self"]) }
    }

    func testALinkToADirectoryIsRefused() throws {
        try write("ws/d/file.txt", "f")
        try link("ws/l", "d")
        assertRefused("l", ["it is a symlink to the directory `d`"]) { try collect(["d", "l"]) }
        try link("ws/here", ".")
        assertRefused("here", ["it is a symlink to the directory `.`"]) { try collect(["here"]) }
    }

    func testALinkToAnInsideFileThatIsNotCollectedIsRefused() throws {
        try write("ws/src/app", "the bytes the deploy would read")
        try link("ws/dist/app", "../src/app")
        assertRefused("dist/app", ["points to `src/app`, which is not among the collected files: the digest would not bind what it reads"]) {
            try collect(["dist"])
        }
        try link("ws/dist/gone", "nothing-here")
        assertRefused("dist/gone", ["resolves to `dist/nothing-here`, which does not exist"]) { try collect(["dist/gone"]) }
    }

    /// On disk the chain ends at a collected file, but through an uncollected link: the stored
    /// link would dangle once restored, so it is refused too.
    func testAChainThroughAnUncollectedLinkIsRefused() throws {
        try write("ws/dist/real", "real")
        try link("ws/dist/app", "../hop")
        try link("ws/hop", "dist/real")
        assertRefused("dist/app", ["resolves to `hop`, which is not among the collected files"]) { try collect(["dist"]) }
        XCTAssertEqual(try collect(["dist", "hop"]).map(\.path), ["dist/app", "dist/real", "hop"], "collecting the hop too is fine")
    }

    func testLinksToCollectedFilesAreKeptAndRestoreByteIdentical() throws {
        try write("ws/dist/app.bin", String(repeating: "0123456789", count: 10_000))
        try link("ws/dist/current", "app.bin")
        try link("ws/dist/latest", "./current")  // a chain of links, all collected
        try link("ws/dist/sub/up", "../app.bin")
        let entries = try collect(["dist"])
        XCTAssertEqual(entries.map(\.path), ["dist/app.bin", "dist/current", "dist/latest", "dist/sub/up"])
        XCTAssertEqual(entries.filter { $0.kind == .symlink }.map(\.target), ["app.bin", "./current", "../app.bin"])

        let target = dir + "/restored"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        XCTAssertEqual(try files.restore(entries, into: target), 4)
        let original = FileManager.default.contents(atPath: dir + "/ws/dist/app.bin")
        XCTAssertNotNil(original)
        for path in ["dist/app.bin", "dist/current", "dist/latest", "dist/sub/up"] {
            XCTAssertEqual(FileManager.default.contents(atPath: target + "/" + path), original, path)
        }
        for (path, text) in [("dist/current", "app.bin"), ("dist/latest", "./current"), ("dist/sub/up", "../app.bin")] {
            XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: target + "/" + path), text, path)
        }
    }

    // MARK: restore

    func testAHostileManifestWhoseChainEscapesThroughAnotherLinkIsRefused() throws {
        try write("ws/a.txt", "a")
        let good = try collect(["a.txt"])[0]
        func entry(_ path: String, _ target: String) -> FileEntry {
            FileEntry(path: path, kind: .symlink, mode: 0o777, size: 0, digest: Digest.sha256("symlink:" + target), target: target)
        }
        let target = dir + "/t"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        // Each text looks inside (`d/b/../x` and `..` from `d`), together they leave.
        assertRefused("a", ["resolves to `\(dir!)/x` (through `d/b`), outside the directory"]) {
            try files.restore([good, entry("a", "d/b/../x"), entry("d/b", "..")], into: target)
        }
        assertRefused("a", ["resolves to `/etc/passwd` (through `b`), outside the directory"]) {
            try files.restore([good, entry("a", "b/passwd"), entry("b", "/etc")], into: target)
        }
        assertRefused("a", ["a loop"]) { try files.restore([entry("a", "b"), entry("b", "a")], into: target) }
        assertRefused("l", ["resolves to `elsewhere.txt`, which is not a file of the manifest"]) {
            try files.restore([good, entry("l", "elsewhere.txt")], into: target)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target), [], "nothing of a refused manifest is written")
        // Links among the entries that end at a file entry are fine.
        XCTAssertEqual(try files.restore([good, entry("l", "m"), entry("m", "a.txt")], into: target), 3)
        XCTAssertEqual(FileManager.default.contents(atPath: target + "/l"), Data("a".utf8))
    }

    func testAnOrdinaryManifestWithoutLinksStillRestores() throws {
        try write("ws/dist/a.txt", "a")
        try write("ws/dist/deep/b.txt", "b")
        let entries = try collect(["dist"])
        let target = dir + "/r"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        XCTAssertEqual(try files.restore(entries, into: target), 2)
        XCTAssertEqual(FileManager.default.contents(atPath: target + "/dist/deep/b.txt"), Data("b".utf8))
        XCTAssertEqual(try files.restore(entries, into: target), 0)
    }
}
