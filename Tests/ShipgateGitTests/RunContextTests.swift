import Foundation
import ShipgateGit
import XCTest

/// Real repositories in temporary directories (made with the git CLI; shipgate reads them
/// through libgit2 only), compared against what `git` itself says.
final class RunContextTests: XCTestCase {
    var repo: TestRepo!
    var dir: String { repo.dir }

    override func setUpWithError() throws { repo = try TestRepo() }
    override func tearDown() { repo.remove() }

    @discardableResult
    func sh(_ command: String) throws -> String { try repo.sh(command) }

    func commit(_ message: String, file: String = "a.txt") throws {
        try sh("echo '\(message)' >> \(file) && git add \(file) && git commit -qm '\(message)'")
    }

    func testOutsideARepositoryTheRunGoesOnWithoutGit() {
        let context = RunContext.resolve(workspace: dir, environment: ["USER": "dev"], actor: nil)
        XCTAssertNil(context.git)
        XCTAssertEqual(context.unavailable, "not a git repository")
        XCTAssertEqual(context.actor, "dev")
        XCTAssertEqual(context.environment, ["SHIPGATE_ACTOR": "dev"])
        XCTAssertEqual(context.summary, "git context unavailable (not a git repository); actor dev")
    }

    func testARepositoryWithoutCommits() throws {
        try sh("git init -q -b main")
        let context = RunContext.resolve(workspace: dir, environment: [:], actor: "ci")
        XCTAssertNil(context.git)
        XCTAssertEqual(context.unavailable, "the repository has no commits yet")
    }

    func testCommitBranchAuthorSubjectFromASubdirectory() throws {
        try sh("git init -q -b main && git config user.name 'Config User'")
        try commit("first commit")
        try commit("second: the subject line\n\nbody text")
        try FileManager.default.createDirectory(atPath: dir + "/services/api", withIntermediateDirectories: true)
        let context = RunContext.resolve(workspace: dir + "/services/api", environment: ["USER": "os-user"], actor: nil)
        let git = try XCTUnwrap(context.git)
        XCTAssertEqual(git.commit, try sh("git rev-parse HEAD"))
        XCTAssertEqual(git.shortCommit, String(git.commit.prefix(7)))
        XCTAssertEqual(git.branch, "main")
        XCTAssertEqual(git.author, "Ada Lovelace <ada@example.com>")
        XCTAssertEqual(git.subject, "second: the subject line")
        XCTAssertEqual(git.tags, [])
        XCTAssertFalse(git.dirty)
        XCTAssertEqual(context.actor, "Config User", "the git user comes before the OS user")
    }

    /// `SHIPGATE_VERSION` is exactly what `git describe --tags --dirty --always` prints.
    func testVersionsFollowGitDescribe() throws {
        try sh("git init -q -b main")
        try commit("one")
        func version() -> String? { RunContext.resolve(workspace: dir, environment: [:], actor: "x").git?.version }
        XCTAssertEqual(version(), try sh("git describe --tags --dirty --always"), "no tag: the short commit")
        try sh("git tag v1.4.0")
        XCTAssertEqual(version(), "v1.4.0")
        XCTAssertEqual(RunContext.resolve(workspace: dir, environment: [:], actor: "x").git?.tags, ["v1.4.0"])
        try commit("two")
        try commit("three")
        try commit("four")
        XCTAssertEqual(version(), try sh("git describe --tags --dirty --always"))
        XCTAssertTrue(version()!.hasPrefix("v1.4.0-3-g"), version()!)
        try sh("echo untracked > new.txt")
        XCTAssertFalse(version()!.hasSuffix("-dirty"), "untracked files do not make the tree dirty")
        try sh("echo change >> a.txt")
        XCTAssertEqual(version(), try sh("git describe --tags --dirty --always"))
        XCTAssertTrue(version()!.hasSuffix("-dirty"))
        XCTAssertEqual(RunContext.resolve(workspace: dir, environment: [:], actor: "x").git?.dirty, true)
        try sh("git add a.txt")
        XCTAssertEqual(RunContext.resolve(workspace: dir, environment: [:], actor: "x").git?.dirty, true, "staged changes count too")
        try sh("git tag -a v2.0.0 -m release HEAD~1")
        XCTAssertEqual(version(), try sh("git describe --tags --dirty --always"), "annotated tags count")
    }

    func testDetachedHeadWithAndWithoutGitHubVariables() throws {
        try sh("git init -q -b main")
        try commit("one")
        try commit("two")
        try sh("git checkout -q --detach HEAD~1")
        let plain = RunContext.resolve(workspace: dir, environment: [:], actor: "x")
        XCTAssertNil(plain.git?.branch)
        XCTAssertEqual(plain.environment["SHIPGATE_BRANCH"], "")
        XCTAssertTrue(plain.summary.hasPrefix("detached @ "), plain.summary)

        let push = RunContext.resolve(
            workspace: dir, environment: ["GITHUB_ACTIONS": "true", "GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "release/2.0", "GITHUB_ACTOR": "octocat"],
            actor: nil)
        XCTAssertEqual(push.git?.branch, "release/2.0")
        XCTAssertEqual(push.actor, "octocat")

        let sha = try sh("git rev-parse main")
        let pr = RunContext.resolve(
            workspace: dir,
            environment: [
                "GITHUB_ACTIONS": "true", "GITHUB_SHA": sha, "GITHUB_HEAD_REF": "feature/login", "GITHUB_REF_NAME": "42/merge", "GITHUB_REF_TYPE": "branch",
            ],
            actor: "explicit")
        XCTAssertEqual(pr.git?.branch, "feature/login", "pull requests use the head branch")
        XCTAssertEqual(pr.git?.commit, sha)
        XCTAssertEqual(pr.actor, "explicit", "--actor wins")

        let tag = RunContext.resolve(
            workspace: dir, environment: ["GITHUB_ACTIONS": "true", "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v9.9.9"], actor: "x")
        XCTAssertEqual(tag.environment["SHIPGATE_TAG"], "v9.9.9")

        // Outside GitHub Actions its variables are ignored: they cannot make a branch pass for main.
        let forged = RunContext.resolve(
            workspace: dir, environment: ["GITHUB_HEAD_REF": "main", "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v9.9.9", "GITHUB_SHA": sha], actor: "x")
        XCTAssertNil(forged.git?.branch)
        XCTAssertEqual(forged.environment["SHIPGATE_TAG"], "")
    }

    func testActorPrecedence() throws {
        try sh("git init -q -b main && git config user.name 'Git User'")
        try commit("one")
        XCTAssertEqual(RunContext.resolve(workspace: dir, environment: ["SHIPGATE_ACTOR": "a", "GITHUB_ACTOR": "b", "USER": "d"], actor: nil).actor, "a")
        XCTAssertEqual(RunContext.resolve(workspace: dir, environment: ["GITHUB_ACTOR": "b", "USER": "d"], actor: nil).actor, "b")
        XCTAssertEqual(RunContext.resolve(workspace: dir, environment: ["USER": "d"], actor: nil).actor, "Git User")
    }
}
