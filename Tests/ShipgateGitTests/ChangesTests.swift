import Foundation
import ShipgateGit
import XCTest

/// Changed paths and the choice of base, on real repositories.
final class ChangesTests: XCTestCase {
    var repo: TestRepo!

    override func setUpWithError() throws {
        repo = try TestRepo()
        try repo.sh("git init -q -b main")
        try repo.sh("mkdir -p services/api web && echo 1 > services/api/app.py && echo 1 > web/index.html && echo 1 > old.txt")
        try repo.sh("printf '.shipgate\\nbuild/\\n' > .gitignore && git add -A && git commit -qm init")
    }

    override func tearDown() { repo.remove() }

    var dir: String { repo.dir }

    func changes(base: String? = nil, branch: String? = nil, last: String? = nil, env: [String: String] = [:]) -> Changes {
        Changes.detect(workspace: dir, environment: env, explicitBase: base, branch: branch, lastSuccessfulCommit: { last })
    }

    func testEveryKindOfChangeIsSeen() throws {
        let base = try repo.sh("git rev-parse HEAD")
        try repo.sh("git checkout -qb feature")
        try repo.sh("echo 2 >> services/api/app.py && git commit -qam 'committed change'")
        try repo.sh("git mv old.txt renamed.txt && git commit -qm rename")
        try repo.sh("echo staged > staged.txt && git add staged.txt")
        try repo.sh("echo 2 >> web/index.html")  // unstaged
        try repo.sh("mkdir -p new/dir && echo u > new/dir/untracked.txt")
        try repo.sh("mkdir -p build && echo ignored > build/out.bin")  // ignored: not a change
        let c = changes(base: base)
        XCTAssertEqual(c.paths, ["new/dir/untracked.txt", "old.txt", "renamed.txt", "services/api/app.py", "staged.txt", "web/index.html"])
        XCTAssertEqual(c.base, "--base \(base) (\(base.prefix(7)))")
        try repo.sh("git rm -qf web/index.html")
        XCTAssertTrue(changes(base: base).paths?.contains("web/index.html") ?? false, "deletions count")
    }

    func testAFeatureBranchComparesWithTheMergeBaseOfTheDefaultBranch() throws {
        let fork = try repo.sh("git rev-parse HEAD")
        try repo.sh("git checkout -qb feature && echo 2 >> services/api/app.py && git commit -qam api")
        try repo.sh("git checkout -q main && echo 2 >> web/index.html && git commit -qam 'web on main' && git checkout -q feature")
        let c = changes(branch: "feature")
        XCTAssertEqual(c.paths, ["services/api/app.py"], "main's own later changes are not this branch's")
        XCTAssertEqual(c.base, "the merge base with main (\(fork.prefix(7)))")
    }

    /// After the feature branch merges main back in, main's changes are no longer "changes".
    func testAMergeFromTheDefaultBranchMovesTheBase() throws {
        try repo.sh("git checkout -qb feature && echo 2 >> services/api/app.py && git commit -qam api")
        try repo.sh("git checkout -q main && echo 2 >> web/index.html && git commit -qam web")
        try repo.sh("git checkout -q feature && git merge -q --no-edit main")
        let mainTip = try repo.sh("git rev-parse main")
        let c = changes(branch: "feature")
        XCTAssertEqual(c.paths, ["services/api/app.py"])
        XCTAssertEqual(c.base, "the merge base with main (\(mainTip.prefix(7)))")
    }

    func testPullRequestsUseTheirBaseRef() throws {
        try repo.sh("git branch release && git checkout -qb topic && echo 2 >> web/index.html && git commit -qam web")
        let c = changes(branch: "topic", env: ["GITHUB_BASE_REF": "release"])
        XCTAssertEqual(c.paths, ["web/index.html"])
        XCTAssertTrue(c.base?.hasPrefix("the merge base with release") ?? false, c.base ?? "")
    }

    func testTheDefaultBranchComparesWithTheLastSuccessfulRun() throws {
        let last = try repo.sh("git rev-parse HEAD")
        try repo.sh("echo 2 >> web/index.html && git commit -qam web")
        let c = changes(branch: "main", last: last)
        XCTAssertEqual(c.paths, ["web/index.html"])
        XCTAssertEqual(c.base, "the last successful run on main (\(last.prefix(7)))")
    }

    func testWithoutABaseJobsRunAndTheReasonIsGiven() throws {
        let c = changes(branch: "main")
        XCTAssertNil(c.paths)
        XCTAssertEqual(c.unavailable, "no base to compare with: no earlier successful run on main and no other default branch")
        XCTAssertEqual(changes(base: "no-such-ref").unavailable, "--base no-such-ref names no commit in this repository")
        let outside = Changes.detect(workspace: NSTemporaryDirectory(), environment: [:], explicitBase: nil, branch: nil, lastSuccessfulCommit: { nil })
        XCTAssertEqual(outside.unavailable, "not a git repository")
    }
}
