import Foundation
import ShipgateGate
import ShipgateModel
import ShipgateRelease
import XCTest

/// The trusted policy read from real git repositories: whatever file a run names, the
/// environments, deployers and keyring come from the trusted ref's tree.
final class TrustedPolicyTests: XCTestCase {
    static let deploy = """
        name: app
        environments:
          prod:
            approvals: { required: 1, from: [alice] }
            secrets: [PROD_TOKEN]
        jobs:
          deploy-prod:
            environment: prod
            steps: [{ run: "true" }]
            rollback: [{ run: echo trusted }]

        """

    func testEveryTrustedPipelineCountsWhateverFileTheRunNames() throws {
        let repo = try ReleaseRepo(files: [
            "pipelines/deploy.yml": Self.deploy,
            // Flow style, in another directory: still a pipeline with environments.
            "ops/batch.yaml": "{name: batch, environments: {batch: {branches: [main]}}, jobs: {run-batch: {environment: batch, steps: [{run: 'true'}]}}}\n",
        ])
        try repo.git("checkout -q -b feature/x")
        try repo.write(["mine.yml": "name: mine\nenvironments:\n  prod: {}\njobs:\n  deploy-prod:\n    environment: prod\n    steps: [{ run: evil }]\n"])
        let policy = try repo.policy(running: "mine.yml")
        XCTAssertNil(policy.problem)
        XCTAssertEqual(policy.environments["prod"]?.approvals?.required, 1, "the trusted rules, not the branch's `prod: {}`")
        XCTAssertTrue(policy.isTrusted("prod"))
        XCTAssertTrue(policy.environments["batch"]?.isProtected ?? false, "the flow-style file counts")
        XCTAssertEqual(policy.deployers["prod"]?.map(\.path), ["pipelines/deploy.yml"])
        XCTAssertEqual(policy.deployers["batch"]?.map(\.job), ["run-batch"])
        XCTAssertEqual(policy.keyring.keys.keys.sorted(), ["alice", "bob"])
        XCTAssertTrue(policy.identity?.hasPrefix("main@") ?? false, policy.identity ?? "nil")
    }

    func testAnEnvironmentDeclaredDifferentlyInTwoTrustedFilesFailsItsGates() throws {
        let repo = try ReleaseRepo(files: [
            "pipelines/deploy.yml": Self.deploy,
            "pipelines/other.yml": Self.deploy.replacingOccurrences(of: "required: 1", with: "required: 1, expire: 1h"),
        ])
        let policy = try repo.policy(running: "pipelines/deploy.yml")
        XCTAssertNotNil(policy.failure(for: "prod"))
        XCTAssertTrue(policy.failure(for: "prod")?.contains("declared differently") ?? false, policy.failure(for: "prod") ?? "")
        XCTAssertFalse(policy.isTrusted("prod"))
    }

    func testASymlinkedKeyringOnTheTrustedRefIsNotUsed() throws {
        let repo = try ReleaseRepo(files: ["pipelines/deploy.yml": Self.deploy, "keys/real.yml": ApproverKey(name: "mallory").keyringLine + "\n"])
        try repo.git("rm -q pipelines/approvers.yml && ln -s ../keys/real.yml pipelines/approvers.yml && git add -A && git commit -qm link")
        let policy = try repo.policy(running: "pipelines/deploy.yml")
        XCTAssertTrue(policy.keyring.keys.isEmpty, "a link is not a regular file: no key from it")
        XCTAssertTrue(policy.notes.contains { $0.contains("no keyring (a regular file)") }, "\(policy.notes)")
    }

    func testAPipelineFileUnderASymlinkedDirectoryFailsClosed() throws {
        let repo = try ReleaseRepo(files: ["pipelines/deploy.yml": Self.deploy])
        try repo.git("checkout -q -b feature/link && ln -s pipelines p && git add -A && git commit -qm link")
        let policy = try repo.policy(running: "p/deploy.yml")
        XCTAssertTrue(policy.problem?.contains("through a symlink") ?? false, policy.problem ?? "nil")
        XCTAssertFalse(policy.isTrusted("prod"))
    }

    func testSecretNamesComeFromTheWorkingTreeAndTheTrustedRef() throws {
        let repo = try ReleaseRepo(files: ["pipelines/deploy.yml": Self.deploy])
        try repo.git("checkout -q -b feature/drop")
        try repo.write(["pipelines/deploy.yml": "name: app\nenvironments:\n  qa:\n    secrets: [QA_TOKEN]\njobs:\n  t:\n    steps: [{ run: 'true' }]\n"])
        let pipeline = try repo.pipeline("pipelines/deploy.yml")
        let policy = try repo.policy(running: "pipelines/deploy.yml")
        XCTAssertEqual(SecretPolicy.environmentSecretNames(pipeline: pipeline, policy: policy), ["PROD_TOKEN", "QA_TOKEN"])
        let step = SecretPolicy.stepEnvironment(
            ["PATH": "/bin", "PROD_TOKEN": "x", "PGPASSWORD": "pw", "SHIPGATE_STATE_URL": "postgres://u:p@h/db", "PGPASSFILE": "/f"],
            withholding: ["PROD_TOKEN"])
        XCTAssertEqual(step, ["PATH": "/bin"])
        let secrets = try RunSecrets.resolve(
            required: ["API_KEY"], pipeline: pipeline, policy: policy, launch: ["API_KEY": "a", "PROD_TOKEN": "p", "PATH": "/bin"],
            file: ["QA_TOKEN": "q", "EXTRA": "e"])
        XCTAssertEqual(secrets.pipeline, ["API_KEY": "a", "EXTRA": "e"], "every value of the secrets file is a secret, environment ones aside")
        XCTAssertEqual(secrets.environment, ["PROD_TOKEN": "p", "QA_TOKEN": "q"])
        XCTAssertEqual(secrets.stepEnvironment, ["API_KEY": "a", "PATH": "/bin"])
    }

    func testRollbackAuthority() throws {
        let repo = try ReleaseRepo(files: [
            "pipelines/deploy.yml": Self.deploy
                + "",
            "pipelines/more.yml": "name: more\nenvironments:\n  stage:\n    branches: [main]\n  dev: {}\njobs:\n  t:\n    steps: [{ run: 'true' }]\n",
        ])
        let policy = try repo.policy(running: "pipelines/deploy.yml")
        XCTAssertNil(RollbackAuthority.failure(approver: "alice", environment: "prod", policy: policy))
        XCTAssertTrue(RollbackAuthority.failure(approver: "bob", environment: "prod", policy: policy)?.contains("may not approve prod") ?? false)
        XCTAssertTrue(RollbackAuthority.failure(approver: nil, environment: "prod", policy: policy)?.contains("approver's key") ?? false)
        XCTAssertTrue(RollbackAuthority.failure(approver: "mallory", environment: "prod", policy: policy)?.contains("not in the trusted keyring") ?? false)
        XCTAssertNil(RollbackAuthority.failure(approver: "bob", environment: "stage", policy: policy), "protected without approvals: any approver")
        XCTAssertNotNil(RollbackAuthority.failure(approver: nil, environment: "stage", policy: policy))
        XCTAssertNil(RollbackAuthority.failure(approver: nil, environment: "dev", policy: policy), "unprotected: whoever may deploy")
        XCTAssertNotNil(RollbackAuthority.failure(approver: "alice", environment: "nowhere", policy: policy))

        let bytes = RollbackAuthority.requestBytes(environment: "prod", target: "", actor: "alice", issuedAt: "t", reason: "r")
        XCTAssertEqual(RollbackAuthority.approver(of: repo.keys["alice"]!, signing: bytes, keyring: policy.keyring)?.name, "alice")
        XCTAssertNil(RollbackAuthority.approver(of: ApproverKey(name: "alice"), signing: bytes, keyring: policy.keyring), "a name is not a key")
    }
}
