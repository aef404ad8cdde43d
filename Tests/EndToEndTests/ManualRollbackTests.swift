import Foundation
import XCTest

/// `shipgate rollback` through the built binary in a scratch repository: the trusted ref's
/// rollback steps, an approver's key for a protected environment, only trusted targets.
final class ManualRollbackTests: XCTestCase {
    static let pipeline = """
        name: rollbacks
        environments:
          prod:
            branches: [main, "feature/*"]
            approvals: { required: 1, from: [alice] }
            concurrency: 1
            secrets: [PROD_TOKEN]
        jobs:
          build:
            steps: [{ run: 'mkdir -p dist && cat release.txt > dist/app.txt' }]
            artifacts: { paths: ["dist/**"] }
          deploy-prod:
            needs: [build]
            environment: prod
            steps: [{ run: 'mkdir -p "$LIVE_ROOT/live" && cp "$SHIPGATE_ARTIFACTS/dist/app.txt" "$LIVE_ROOT/live/prod.txt"' }]
            rollback:
              - run: sh scripts/rollback.sh

        """

    static let script = """
        echo "trusted rollback token=${PROD_TOKEN:-unset}" > "$LIVE_ROOT/live/rollback.txt"
        cp "$SHIPGATE_ROLLBACK_ARTIFACTS/dist/app.txt" "$LIVE_ROOT/live/prod.txt"

        """

    var token: [String: String] = [:]

    /// The repository, with the rollback script committed; "live" is `live/` in it.
    func makeRepo() async throws -> GateRepo {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        try FileManager.default.createDirectory(atPath: repo.path + "/scripts", withIntermediateDirectories: true)
        try repo.write(Self.script, to: "scripts/rollback.sh")
        try await repo.commitAll("rollback script")
        token = ["PROD_TOKEN": "s3cr3t-prod-token", "LIVE_ROOT": repo.path]
        return repo
    }

    /// Deploys `content` to prod: run, alice approves, resume.
    func deploy(_ repo: GateRepo, _ content: String) async throws {
        try repo.write(content, to: "release.txt")
        try await repo.commitAll("release \(content)")
        let blocked = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain"], env: token)
        XCTAssertEqual(blocked.status, 3, blocked.stdout + blocked.stderr)
        let run = try XCTUnwrap(GateRepo.runID(blocked.stdout))
        try await repo.ok(["approve", run, "--env", "prod", "--key", repo.key("alice")])
        try await repo.ok(["resume", run, "--output", "plain"], env: token)
        XCTAssertEqual(repo.read("live/prod.txt"), content)
    }

    func testRollbackNeedsAnAllowedApproversKeyAndRunsTheTrustedRefsSteps() async throws {
        let repo = try await makeRepo()
        try await deploy(repo, "one\n")
        try await deploy(repo, "two\n")
        let releases = try await repo.history("prod")
        let first = try XCTUnwrap(releases.last?["release"] as? String)

        let anonymous = try await repo.shipgate(["rollback", "pipelines/deploy.yml", "--env", "prod", "--reason", "x"], env: token)
        XCTAssertEqual(anonymous.status, 2, anonymous.stdout + anonymous.stderr)
        XCTAssertTrue(anonymous.stderr.contains("needs an approver's key"), anonymous.stderr)
        let bob = try await repo.shipgate(
            ["rollback", "pipelines/deploy.yml", "--env", "prod", "--reason", "x", "--key", repo.key("bob")], env: token)
        XCTAssertEqual(bob.status, 2, bob.stdout + bob.stderr)
        XCTAssertTrue(bob.stderr.contains("bob may not approve prod deploys"), bob.stderr)
        let stranger = try await repo.keygen("mallory")
        XCTAssertFalse(stranger.isEmpty)
        let mallory = try await repo.shipgate(
            ["rollback", "pipelines/deploy.yml", "--env", "prod", "--reason", "x", "--key", repo.key("mallory")], env: token)
        XCTAssertEqual(mallory.status, 2)
        XCTAssertTrue(mallory.stderr.contains("not in the trusted keyring"), mallory.stderr)
        XCTAssertEqual(repo.read("live/prod.txt"), "two\n", "nothing ran")

        // A branch rewrites the rollback steps and the script they call to leak the secret:
        // the trusted ones run, from a checkout of the trusted commit.
        try await repo.sh("git checkout -q -b feature/evil")
        let evil = #"echo "evil token=$PROD_TOKEN" > "$LIVE_ROOT/live/evil.txt""# + "\n"
        try repo.write(Self.pipeline.replacingOccurrences(of: "sh scripts/rollback.sh", with: "sh scripts/evil.sh"), to: "pipelines/deploy.yml")
        try repo.write(evil, to: "scripts/evil.sh")
        try repo.write(evil, to: "scripts/rollback.sh")
        try await repo.commitAll("evil rollback")
        try repo.write(evil + "# uncommitted\n", to: "scripts/rollback.sh")
        let out = try await repo.ok(
            ["rollback", "pipelines/deploy.yml", "--env", "prod", "--reason", "error rate up", "--key", repo.key("alice")], env: token)
        XCTAssertTrue(out.stdout.contains("steps from main@"), out.stdout)
        XCTAssertEqual(repo.read("live/prod.txt"), "one\n", "the first release's artifacts are live again")
        XCTAssertEqual(repo.read("live/rollback.txt"), "trusted rollback token=s3cr3t-prod-token\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo.path + "/live/evil.txt"), "the branch's steps never ran")
        XCTAssertFalse(out.stdout.contains("s3cr3t"), out.stdout)

        let history = try await repo.history("prod")
        XCTAssertEqual(history.first?["status"] as? String, "success")
        XCTAssertEqual(history.first?["rollbackOf"] as? String, first)
        let audit = try await repo.ok(["audit", "--env", "prod"])
        XCTAssertTrue(audit.stdout.contains("rollback-started by tester"), audit.stdout)
        XCTAssertTrue(audit.stdout.contains("approver=alice"), audit.stdout)
        XCTAssertTrue(audit.stdout.contains("reason=error rate up"), audit.stdout)
    }

    /// A release that was not made under the trusted policy (recorded before releases carried
    /// their policy, say) is never a target, named or not.
    func testARollbackNeverReturnsToAReleaseWithoutTheTrustedPolicy() async throws {
        let repo = try await makeRepo()
        try await deploy(repo, "one\n")
        try await deploy(repo, "two\n")
        let releases = try await repo.history("prod")
        let first = try XCTUnwrap(releases.last?["release"] as? String)
        try await repo.sh("sqlite3 .shipgate/state.db \"UPDATE deployments SET policy = NULL WHERE release = '\(first)'\"")
        let named = try await repo.shipgate(
            ["rollback", "pipelines/deploy.yml", "--env", "prod", "--to", first, "--reason", "x", "--key", repo.key("alice")], env: token)
        XCTAssertEqual(named.status, 2, named.stdout + named.stderr)
        XCTAssertTrue(named.stderr.contains("not made under the trusted policy"), named.stderr)
        let previous = try await repo.shipgate(
            ["rollback", "pipelines/deploy.yml", "--env", "prod", "--reason", "x", "--key", repo.key("alice")], env: token)
        XCTAssertEqual(previous.status, 2, previous.stdout + previous.stderr)
        XCTAssertTrue(previous.stderr.contains("no earlier trusted good release"), previous.stderr)
        XCTAssertEqual(repo.read("live/prod.txt"), "two\n")
    }
}
