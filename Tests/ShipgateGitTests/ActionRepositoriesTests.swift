import Foundation
import ShipgateGit
import XCTest

/// Fetching actions through libgit2 from bare repositories in a temporary directory
/// (`file://`), as `--actions-url` serves them: ref resolution, SHA checks, offline use, the
/// fallback when the remote is gone, and what extraction writes.
final class ActionRepositoriesTests: XCTestCase {
    var repo: TestRepo!
    var served: String { repo.dir + "/served" }
    var cache: String { repo.dir + "/cache" }

    override func setUpWithError() throws {
        repo = try TestRepo()
        try repo.sh(
            """
            mkdir work && cd work && git init -q -b main && mkdir -p dist sub &&
            echo 'console.log(1)' > dist/index.js && printf '#!/bin/sh\\necho run\\n' > run.sh && chmod +x run.sh &&
            echo inside > sub/file && ln -s sub/file inner-link && ln -s ../../outside escaping-link &&
            ln -s . self && ln -s self/self/self/../../../etc/passwd chained-link && ln -s /etc/passwd absolute-link &&
            git add -A && git commit -qm one && git tag v1 && git tag -a v1-annotated -m annotated &&
            echo two > two.txt && git add -A && git commit -qm two && git branch v2 &&
            echo three > three.txt && git add -A && git commit -qm three && git tag v2 HEAD~2 &&
            mkdir -p ../served/acme && git clone -q --bare . ../served/acme/tool.git
            """)
    }

    override func tearDown() { repo.remove() }

    func store(offline: Bool = false, url: String? = nil) -> ActionRepositories {
        ActionRepositories(root: cache, baseURL: url ?? "file://" + served, offline: offline)
    }

    func sha(_ rev: String) throws -> String { try repo.sh("git -C work rev-parse '\(rev)^{commit}'") }

    func testRefsResolveAsGitDoesTagsBeforeBranches() throws {
        XCTAssertEqual(try store().resolve(repository: "acme/tool", ref: "v1").commit, try sha("v1"))
        XCTAssertEqual(try store().resolve(repository: "acme/tool", ref: "v1-annotated").commit, try sha("v1"), "an annotated tag peels to its commit")
        XCTAssertEqual(try store().resolve(repository: "acme/tool", ref: "main").commit, try sha("main"))
        // `v2` is both a tag (the first commit) and a branch (the second): the tag wins.
        XCTAssertEqual(try store().resolve(repository: "ACME/Tool", ref: "v2").commit, try sha("refs/tags/v2"))
        let full = try sha("main~1")
        let pinned = try store().resolve(repository: "acme/tool", ref: full)
        XCTAssertEqual(pinned.commit, full)
        XCTAssertEqual(pinned.url, "file://\(served)/acme/tool.git", "owner/repo.git is found when owner/repo is not")
    }

    func testAShaMustNameACommitOfTheRepository() throws {
        let tagObject = try repo.sh("git -C work rev-parse v1-annotated")
        XCTAssertNotEqual(tagObject, try sha("v1"))
        XCTAssertThrowsError(try store().resolve(repository: "acme/tool", ref: tagObject)) { error in
            XCTAssertTrue("\(error)".contains("has no commit \(tagObject)"), "\(error)")
        }
        XCTAssertThrowsError(try store().resolve(repository: "acme/tool", ref: String(repeating: "ab", count: 20))) { error in
            XCTAssertTrue("\(error)".contains("has no commit"), "\(error)")
        }
        // Revision syntax (describe names, `^`, `:`, `@{}`), a short id, paths: names no tag or branch.
        let short = String(try sha("v1").prefix(8))
        for bad in ["no-such-tag", "../v1", "-v1", "v1^{tree}", "v1:run.sh", "x-1-g\(short)", short, "v1@{0}", "refs/tags/v1", "HEAD"] {
            XCTAssertThrowsError(try store().resolve(repository: "acme/tool", ref: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("has no tag or branch"), "\(bad): \(error)")
            }
        }
        XCTAssertThrowsError(try store().resolve(repository: "acme/missing", ref: "v1")) { error in
            XCTAssertTrue("\(error)".contains("cannot fetch the action acme/missing@v1"), "\(error)")
        }
    }

    func testOfflineUsesOnlyTheCacheAndAGoneRemoteFallsBackWithAWarning() throws {
        XCTAssertThrowsError(try store(offline: true).resolve(repository: "acme/tool", ref: "v1")) { error in
            XCTAssertTrue("\(error)".contains("`acme/tool@v1` is not in the action cache, and --offline forbids fetching it"), "\(error)")
        }
        XCTAssertNil(store().cachedCommit(repository: "acme/tool", ref: "v1"))
        let online = try store().resolve(repository: "acme/tool", ref: "v1")
        XCTAssertNil(online.warning)
        XCTAssertEqual(store().cachedCommit(repository: "acme/tool", ref: "v1"), online.commit)
        XCTAssertEqual(try store(offline: true).resolve(repository: "acme/tool", ref: "v1").commit, online.commit)
        // A tag moved upstream is seen by the next online resolution.
        try repo.sh("cd work && git tag -f v1 main && git push -q -f ../served/acme/tool.git v1")
        XCTAssertEqual(try store().resolve(repository: "acme/tool", ref: "v1").commit, try sha("main"))
        // The remote disappears: the cached copy is used, and said.
        try repo.sh("rm -rf served")
        let fallback = try store().resolve(repository: "acme/tool", ref: "v1")
        XCTAssertEqual(fallback.commit, try sha("main"))
        XCTAssertTrue(fallback.warning?.contains("using the cached acme/tool@v1") ?? false, fallback.warning ?? "")
        // A pinned SHA in the cache needs no remote at all.
        XCTAssertNil(try store().resolve(repository: "acme/tool", ref: try sha("main~2")).warning)
    }

    func testExtractionKeepsModesAndInnerLinksOnly() throws {
        let resolved = try store().resolve(repository: "acme/tool", ref: "v1")
        let target = repo.dir + "/tree"
        let count = try store().extract(repository: "acme/tool", commit: resolved.commit, into: target)
        XCTAssertEqual(count, 3)
        XCTAssertEqual(try String(contentsOfFile: target + "/dist/index.js", encoding: .utf8), "console.log(1)\n")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: target + "/run.sh"))
        XCTAssertFalse(FileManager.default.isExecutableFile(atPath: target + "/dist/index.js"))
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: target + "/inner-link"), "sub/file")
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: target + "/escaping-link"), "a link out of the tree is not written")
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: target + "/chained-link"), "nor one that leaves it through another link")
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: target + "/absolute-link"))
        XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: target + "/self"), ".", "a link to the tree itself stays")
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/.git"))
        // Extracting again replaces the directory whole.
        try "stray".write(toFile: target + "/stray", atomically: true, encoding: .utf8)
        try store().extract(repository: "acme/tool", commit: resolved.commit, into: target)
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + "/stray"))
    }

    func testMirrorsAreKeptPerSourceURL() throws {
        let a = ActionRepositories(root: cache, baseURL: "https://github.com/")
        let b = ActionRepositories(root: cache, baseURL: "file:///srv/mirror")
        XCTAssertEqual(a.mirror(of: "Acme/Tool"), cache + "/github.com/acme/tool.git")
        XCTAssertNotEqual(a.mirror(of: "acme/tool"), b.mirror(of: "acme/tool"))
        XCTAssertEqual(a.url(of: "acme/tool"), "https://github.com/acme/tool")
    }
}
