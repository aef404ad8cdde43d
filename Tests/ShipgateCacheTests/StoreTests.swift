import Foundation
import ShipgateCache
import ShipgateModel
import XCTest

/// The local store and file sets on real files in temporary directories.
final class StoreTests: XCTestCase {
    var dir: String!
    var cache: LocalCache!
    var files: FileSet!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-cache-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/ws", withIntermediateDirectories: true)
        cache = try LocalCache(root: dir + "/cache")
        files = FileSet(cache: cache, statCache: StatCache(path: nil))
    }

    override func tearDown() {
        // Blobs are read-only; make them removable.
        _ = try? FileManager.default.subpathsOfDirectory(atPath: dir).forEach { chmod(dir + "/" + $0, 0o755) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        let full = dir + "/ws/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: false, encoding: .utf8)
        chmod(full, mode)
    }

    func testRoundTripKeepsBytesModesAndSymlinks() throws {
        try write("dist/app.bin", String(repeating: "0123456789", count: 100_000))
        try write("dist/run.sh", "#!/bin/sh\necho hi\n", mode: 0o755)
        symlink("app.bin", dir + "/ws/dist/current")
        let entries = try files.collect(root: dir + "/ws", filter: PathFilter(["dist"]), skip: [])
        XCTAssertEqual(entries.map(\.path), ["dist/app.bin", "dist/current", "dist/run.sh"])
        XCTAssertEqual(entries.first { $0.path == "dist/run.sh" }?.mode, 0o755)
        XCTAssertEqual(entries.first { $0.path == "dist/current" }?.kind, .symlink)

        let target = dir + "/restored"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        XCTAssertEqual(try files.restore(entries, into: target), 3)
        XCTAssertEqual(FileManager.default.contents(atPath: target + "/dist/app.bin"), FileManager.default.contents(atPath: dir + "/ws/dist/app.bin"))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: target + "/dist/run.sh")[.posixPermissions] as? Int, 0o755)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: target + "/dist/current"), "app.bin")
        XCTAssertEqual(try files.restore(entries, into: target), 0, "an identical tree is left alone")
    }

    func testReadOnlyOutputsShareTheBlobInsteadOfCopying() throws {
        try write("dist/pinned.lock", "read-only\n", mode: 0o444)
        try write("dist/app.bin", "writable\n")
        let entries = try files.collect(root: dir + "/ws", filter: PathFilter(["dist"]), skip: [])
        let target = dir + "/r"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try files.restore(entries, into: target)
        func inode(_ p: String) -> ino_t {
            var st = stat()
            lstat(p, &st)
            return st.st_ino
        }
        let lockEntry = entries.first { $0.path == "dist/pinned.lock" }!
        let binEntry = entries.first { $0.path == "dist/app.bin" }!
        XCTAssertEqual(inode(target + "/dist/pinned.lock"), inode(cache.blobPath(lockEntry.digest)), "read-only output is a hard link")
        XCTAssertNotEqual(inode(target + "/dist/app.bin"), inode(cache.blobPath(binEntry.digest)), "writable output is a copy")
        XCTAssertEqual(FileManager.default.contents(atPath: target + "/dist/pinned.lock"), Data("read-only\n".utf8))
    }

    func testCorruptBlobIsDetectedRemovedAndNeverRestored() throws {
        try write("out.txt", "precious bytes")
        let entries = try files.collect(root: dir + "/ws", filter: PathFilter(["out.txt"]), skip: [])
        let blob = cache.blobPath(entries[0].digest)
        chmod(blob, 0o644)
        try "tampered bytes".write(toFile: blob, atomically: false, encoding: .utf8)
        let target = dir + "/t"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        XCTAssertThrowsError(try files.restore(entries, into: target)) { error in
            XCTAssertEqual(error as? CacheError, .corruptBlob(digest: entries[0].digest))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: blob), "the corrupt blob was removed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/out.txt"), "nothing half-written was left")
        // Truncated blobs likewise.
        let again = try files.collect(root: dir + "/ws", filter: PathFilter(["out.txt"]), skip: [])
        chmod(cache.blobPath(again[0].digest), 0o644)
        truncate(cache.blobPath(again[0].digest), 3)
        XCTAssertThrowsError(try files.restore(again, into: target))
    }

    func testHostileManifestsCannotWriteOutside() throws {
        try write("a.txt", "a")
        let good = try files.collect(root: dir + "/ws", filter: PathFilter(["a.txt"]), skip: [])[0]
        let target = dir + "/t"
        try FileManager.default.createDirectory(atPath: target + "/inside", withIntermediateDirectories: true)
        for path in ["../escape.txt", "/tmp/abs.txt", "inside/../../escape.txt", "./a.txt", "a//b"] {
            var evil = good
            evil.path = path
            XCTAssertThrowsError(try files.restore([evil], into: target), path) { error in
                guard case .unsafePath = error as? CacheError else { return XCTFail("\(path): \(error)") }
            }
        }
        // A parent directory that is a symlink to elsewhere is refused.
        symlink(dir + "/ws", target + "/link")
        var viaLink = good
        viaLink.path = "link/planted.txt"
        XCTAssertThrowsError(try files.restore([viaLink], into: target))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ws/planted.txt"))
        // A symlink entry pointing outside is refused.
        var evilLink = good
        evilLink.path = "l"
        evilLink.kind = .symlink
        evilLink.target = "../../etc/passwd"
        XCTAssertThrowsError(try files.restore([evilLink], into: target))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/escape.txt"))
    }

    func testSymlinkOutputPointingOutsideIsRefusedWhenCollected() throws {
        symlink("/etc/passwd", dir + "/ws/secret")
        XCTAssertThrowsError(try files.collect(root: dir + "/ws", filter: PathFilter(["secret"]), skip: [])) { error in
            XCTAssertEqual(error as? CacheError, .unsafePath("secret", reason: "it is a symlink to `/etc/passwd`, outside the workspace"))
        }
    }

    func testConcurrentWritersShareBlobsSafely() throws {
        try write("big.bin", String(repeating: "x", count: 2_000_000))
        let root = dir + "/ws"
        let files = self.files!
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            _ = try? files.collect(root: root, filter: PathFilter(["big.bin"]), skip: [])
        }
        let entries = try files.collect(root: root, filter: PathFilter(["big.bin"]), skip: [])
        XCTAssertEqual(try cache.readBlob(entries[0].digest).count, 2_000_000)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.root + "/tmp"), [], "no temp file left behind")
    }

    func testStatCacheReusesDigestsAndNoticesChanges() throws {
        try write("f.txt", "one")
        let path = dir + "/stat.tsv"
        // A fresh file is inside the racy window: hashed, but not remembered.
        let strict = StatCache(path: path)
        _ = try strict.digest(root: dir + "/ws", relative: "f.txt")
        strict.save()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))

        let stats = StatCache(path: path, racyWindow: 0)
        let first = try stats.digest(root: dir + "/ws", relative: "f.txt")
        stats.save()
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).contains("\tf.txt\n"))
        let reloaded = StatCache(path: path, racyWindow: 0)
        XCTAssertEqual(try reloaded.digest(root: dir + "/ws", relative: "f.txt"), first)
        try write("f.txt", "two")  // same size, new mtime
        XCTAssertNotEqual(try reloaded.digest(root: dir + "/ws", relative: "f.txt"), first)
        XCTAssertEqual(try reloaded.digest(root: dir + "/ws", relative: "f.txt"), Digest.sha256("two"))
    }

    func testKeyDifferencesReadLikeReasons() {
        let old = KeyComponents(
            definition: ["step.1.run": "make", "env.PY": "3.11"], inputs: ["a.py": "1", "b.py": "2"], needs: ["lib": "k1"], extra: ["python3 --version": "x"])
        var new = old
        new.definition["env.PY"] = "3.12"
        new.inputs["a.py"] = "9"
        new.inputs["c.py"] = "3"
        new.inputs["b.py"] = nil
        new.needs["lib"] = "k2"
        XCTAssertEqual(new.differences(from: old), ["env PY changed", "a.py changed", "b.py removed", "c.py added", "needs lib changed"])
        XCTAssertNotEqual(new.key, old.key)
        XCTAssertEqual(old.key, KeyComponents(definition: old.definition, inputs: old.inputs, needs: old.needs, extra: old.extra).key)
    }
}
