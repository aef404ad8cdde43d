import Foundation
import XCTest

/// Attacks on the deploy gate from a feature branch, through the built binary in scratch git
/// repositories: whatever file the run names, the trusted ref's environments apply.
final class GateAttackTests: XCTestCase {
    static let evil = """
        name: evil
        environments:
          prod: {}
        jobs:
          leak:
            steps: [{ run: 'echo "leak=${PROD_TOKEN:-unset}"' }]
          deploy-prod:
            environment: prod
            steps: [{ run: 'echo "deploy token=${PROD_TOKEN:-unset}"' }]

        """

    let token = ["PROD_TOKEN": "s3cr3t-prod-token"]

    /// A new pipeline file on a branch (also under the default lookup name) cannot redefine prod.
    func testANewPipelineFileOnABranchCannotDeployProdWithoutItsRules() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        try await repo.sh("git checkout -q -b feature/evil")
        try repo.write(Self.evil, to: "shipgate.yml")
        try await repo.commitAll("a pipeline of my own")
        for arguments in [["run", "--output", "plain"], ["run", "shipgate.yml", "--output", "plain", "--isolate"]] {
            let out = try await repo.shipgate(arguments, env: token)
            XCTAssertEqual(out.status, 3, "prod's trusted rules block the deploy:\n\(out.stdout)\n\(out.stderr)")
            XCTAssertFalse((out.stdout + out.stderr).contains("s3cr3t-prod-token"))
            XCTAssertTrue(out.stdout.contains("leak=unset"), out.stdout)
            XCTAssertFalse(out.stdout.contains("deploy token="), "the deploy steps never ran:\n\(out.stdout)")
            XCTAssertTrue(out.stdout.contains("approvals"), out.stdout)
        }
        let releases = try await repo.history("prod")
        XCTAssertTrue(releases.isEmpty, "no release of prod was recorded: \(releases)")
    }

    /// A pipeline file that is a symlink (to a file that declares an unprotected prod) fails closed.
    func testASymlinkedPipelineFileFailsClosed() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        try await repo.sh("git checkout -q -b feature/link")
        try repo.write(Self.evil.replacingOccurrences(of: "prod", with: "preview"), to: "evil.yml")
        try await repo.sh("ln -s evil.yml p.yml")
        try await repo.commitAll("a linked pipeline")
        let out = try await repo.shipgate(["run", "p.yml", "--output", "plain"], env: token)
        XCTAssertNotEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("reached through a symlink"), out.stdout)
        XCTAssertFalse(out.stdout.contains("deploy token="), out.stdout)
    }

    /// An environment the trusted ref does not know deploys with no secrets, and its releases
    /// never become rollback targets; a name that passes for a trusted one is refused.
    func testAnUntrustedEnvironmentGetsNoSecretsAndItsReleasesDoNotCount() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        try await repo.sh("git checkout -q -b feature/preview")
        try repo.write(
            Self.evil.replacingOccurrences(of: "prod: {}", with: "preview: {}").replacingOccurrences(of: "environment: prod", with: "environment: preview"),
            to: "pipelines/preview.yml")
        try await repo.commitAll("preview")
        let out = try await repo.shipgate(["run", "pipelines/preview.yml", "--output", "plain"], env: token)
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("deploy token=unset"), out.stdout)
        let releases = try await repo.history("preview")
        XCTAssertEqual(releases.first?["status"] as? String, "success")
        XCTAssertNil(releases.first?["policy"] as? String, "made outside the trusted policy: \(releases)")

        try repo.write(
            Self.evil.replacingOccurrences(of: "prod: {}", with: "Prod: {}").replacingOccurrences(of: "environment: prod", with: "environment: Prod"),
            to: "pipelines/preview.yml")
        let twin = try await repo.shipgate(["run", "pipelines/preview.yml", "--output", "plain"], env: token)
        XCTAssertEqual(twin.status, 3, twin.stdout + twin.stderr)
        XCTAssertTrue(twin.stdout.contains("can pass for the trusted environment `prod`"), twin.stdout)
    }
}

extension GateAttackTests {
    static let outputs = """
        name: outputs
        environments:
          prod:
            approvals: { required: 1, from: [alice] }
        jobs:
          build:
            steps: [{ run: 'echo "digest=${IMAGE_DIGEST:-sha256:approved}" >> "$SHIPGATE_OUTPUT"' }]
          deploy-prod:
            needs: [build]
            environment: prod
            steps: [{ run: 'mkdir -p live && echo "${{ needs.build.outputs.digest }}" > live/prod.txt' }]

        """

    /// Approvals given for one run's outputs do not carry over to a run of the same commit whose
    /// needs produced other outputs (another image digest); the same outputs do carry over.
    func testApprovalsBindTheOutputsOfTheDeploysNeeds() async throws {
        let repo = try await GateRepo(pipeline: Self.outputs)
        let first = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain"])
        XCTAssertEqual(first.status, 3, first.stdout + first.stderr)
        let run = try XCTUnwrap(GateRepo.runID(first.stdout))
        let approved = try await repo.ok(["approve", run, "--env", "prod", "--key", repo.key("alice")])
        XCTAssertTrue(approved.stdout.contains("outputs:build"), "the approval names the outputs it binds:\n\(approved.stdout)")

        let swapped = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain"], env: ["IMAGE_DIGEST": "sha256:evil"])
        XCTAssertEqual(swapped.status, 3, "a new run of the same commit with another digest is blocked:\n\(swapped.stdout)")
        XCTAssertEqual(repo.read("live/prod.txt"), "", "nothing deployed")
        XCTAssertTrue(swapped.stdout.contains("approve by alice not counted: artifacts changed since approval (outputs:build)"), swapped.stdout)

        let same = try await repo.ok(["run", "pipelines/deploy.yml", "--output", "plain"])
        XCTAssertTrue(same.stdout.contains("approved by alice"), same.stdout)
        XCTAssertEqual(repo.read("live/prod.txt"), "sha256:approved\n")
    }
}

extension GateAttackTests {
    /// A checkout without the trusted ref (a shallow CI clone of a branch): a branch that moved
    /// prod's secret to its top-level `secrets:` gets nothing, and every run warns.
    func testWithoutTheTrustedRefNoSecretGoesToEveryJob() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        try await repo.sh("git checkout -q -b feature/drop && git branch -q -D main")
        try repo.write(
            "name: drop\nsecrets: [PROD_TOKEN]\njobs:\n  leak:\n    steps: [{ run: 'echo \"leak=$(printf %s \"$PROD_TOKEN\" | base64)\"' }]\n",
            to: "pipelines/deploy.yml")
        try await repo.commitAll("move the secret")
        let out = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain"], env: token)
        XCTAssertEqual(out.status, 2, out.stdout + out.stderr)
        XCTAssertTrue(out.stderr.contains("the trusted ref `main` does not exist"), out.stderr)
        XCTAssertTrue(out.stderr.contains("gives none to jobs (PROD_TOKEN); no job was started"), out.stderr)
        XCTAssertFalse(out.stdout.contains("leak="), out.stdout)

        try repo.write("name: plain\njobs:\n  ok:\n    steps: [{ run: 'true' }]\n", to: "pipelines/deploy.yml")
        let plain = try await repo.ok(["run", "pipelines/deploy.yml", "--output", "plain"])
        XCTAssertTrue(plain.stderr.contains("cannot be withheld from jobs: fetch the trusted ref"), plain.stderr)
    }
}
