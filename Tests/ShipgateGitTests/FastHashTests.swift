import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateGit
import ShipgateJobCache
import XCTest

/// Input ids from git's index equal the ids computed by reading files, so cache keys do not
/// depend on which path produced them.
final class FastHashTests: XCTestCase {
    var repo: TestRepo!
    var dir: String { repo.dir }

    override func setUpWithError() throws {
        repo = try TestRepo()
        try repo.sh("git init -q -b main && mkdir -p src/lib bin && printf '.shipgate\\n' > .gitignore")
        for i in 0..<20 { try repo.sh("echo 'file \(i)' > src/lib/f\(i).txt") }
        try repo.sh("printf '#!/bin/sh\\necho run\\n' > bin/run.sh && chmod +x bin/run.sh && ln -s lib/f1.txt src/link")
        // Files older than the index are not racily clean: the index may vouch for them.
        try repo.sh("find . -path ./.git -prune -o -exec touch -h -d '2 hours ago' {} + && git add -A && git commit -qm init")
    }

    override func tearDown() { repo.remove() }

    func testBlobIDsMatchGitHashObject() throws {
        for path in ["src/lib/f3.txt", "bin/run.sh"] {
            XCTAssertEqual(try Digest.gitBlobID(dir + "/" + path), try repo.sh("git hash-object \(path)"), path)
        }
        XCTAssertEqual(try Digest.gitBlobID(dir + "/src/link"), try repo.sh("git rev-parse :src/link"), "symlinks hash their target")
    }

    func testTheIndexVouchesOnlyForCleanFiles() throws {
        let index = try XCTUnwrap(IndexSnapshot(workspace: dir))
        XCTAssertEqual(index.blobID("src/lib/f3.txt"), try repo.sh("git rev-parse :src/lib/f3.txt"))
        XCTAssertEqual(index.blobID("bin/run.sh"), try repo.sh("git rev-parse :bin/run.sh"))
        try repo.sh("echo changed >> src/lib/f4.txt")
        XCTAssertNil(IndexSnapshot(workspace: dir)?.blobID("src/lib/f4.txt"), "modified: hash it")
        try repo.sh("echo new > src/lib/untracked.txt")
        XCTAssertNil(index.blobID("src/lib/untracked.txt"), "untracked: hash it")
        try repo.sh("chmod -x bin/run.sh && touch -d '2 hours ago' bin/run.sh")
        XCTAssertNil(IndexSnapshot(workspace: dir)?.blobID("bin/run.sh"), "mode changed: hash it")
        let fromSubdirectory = try XCTUnwrap(IndexSnapshot(workspace: dir + "/src"))
        XCTAssertEqual(fromSubdirectory.blobID("lib/f3.txt"), try repo.sh("git rev-parse :src/lib/f3.txt"))
    }

    func testRacilyCleanFilesAreNotTrusted() throws {
        // The entry's stat data match the file exactly, but the file is not older than the index
        // (here: the index is backdated): git's racy-clean rule, so the index cannot vouch.
        try repo.sh("echo 'FILE 5' > src/lib/f5.txt && git add src/lib/f5.txt && touch -d '2 hours ago' .git/index")
        XCTAssertNil(IndexSnapshot(workspace: dir)?.blobID("src/lib/f5.txt"))
        // Once the index is newer than the file again, the same entry is trusted.
        try repo.sh("touch -d '1 hour ago' src/lib/f5.txt && git add src/lib/f5.txt")
        XCTAssertEqual(IndexSnapshot(workspace: dir)?.blobID("src/lib/f5.txt"), try repo.sh("git hash-object src/lib/f5.txt"))
    }

    func testKeysAreIdenticalWithAndWithoutTheIndex() throws {
        try repo.sh("echo changed >> src/lib/f7.txt && echo new > src/lib/new.txt")
        let state = dir + "-state"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let index = try XCTUnwrap(IndexSnapshot(workspace: dir))
        let fast = try CacheContext(stateDirectory: state + "/a", workspace: dir, trackedBlobID: { index.blobID($0) })
        let slow = try CacheContext(stateDirectory: state + "/b", workspace: dir)
        let paths = fast.files(matching: ["src/**", "bin/**"])
        XCTAssertEqual(paths.count, 23)
        let viaIndex = try fast.digests(of: paths)
        let viaFiles = try slow.digests(of: paths)
        XCTAssertEqual(viaIndex, viaFiles)
        XCTAssertEqual(viaIndex["src/lib/f7.txt"], try repo.sh("git hash-object src/lib/f7.txt"), "the modified file was hashed")
        XCTAssertEqual(try fast.hashFiles(["src/**"]), try slow.hashFiles(["src/**"]))
    }
}
