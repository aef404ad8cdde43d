import Foundation
import XCTest

/// What the gate shows and records must be true, through the built binary in scratch git
/// repositories: a statement is an approval only when it verifies against the trusted keyring,
/// an approval or a deploy outcome that cannot be audited does not stand, and after a failed
/// rollback the release that is really live is the one shown (docs/deploy-gates.md).
final class GateTrustTests: XCTestCase {
    let token = ["PROD_TOKEN": "s3cr3t-prod-token"]

    /// Runs SQL on the scratch repository's state database (to make audit appends fail for real).
    func sql(_ repo: GateRepo, _ statement: String) async throws {
        try await repo.sh(#"python3 -c "import sqlite3, sys; c = sqlite3.connect('.shipgate/state.db'); c.execute(sys.argv[1]); c.commit()" "\#(statement)""#)
    }

    /// Makes every audit append of these kinds fail, as a full or broken audit table would.
    func failAudits(_ repo: GateRepo, kinds: [String]) async throws {
        let list = kinds.map { "'\($0)'" }.joined(separator: ",")
        try await sql(repo, "CREATE TRIGGER no_audit BEFORE INSERT ON audit WHEN NEW.kind IN (\(list)) BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END")
    }

    /// A blocked prod deploy; returns its run id.
    func blockedRun(_ repo: GateRepo) async throws -> String {
        let first = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain"], env: token)
        XCTAssertEqual(first.status, 3, first.stdout + first.stderr)
        return try XCTUnwrap(GateRepo.runID(first.stdout))
    }

    /// `approve --out` recorded in a copy of the state, so the real one sees it only when imported.
    func signElsewhere(_ repo: GateRepo, run: String, key: String, out: String, trustRef: String = "main") async throws {
        let copy = repo.keys + "/copy-\(UUID().uuidString).db"
        try await repo.sh(#"python3 -c "import sqlite3, sys; sqlite3.connect('.shipgate/state.db').backup(sqlite3.connect(sys.argv[1]))" "\#(copy)""#)
        let signed = try await repo.shipgate(
            ["approve", run, "--env", "prod", "--key", key, "--trust-ref", trustRef, "--state", "sqlite:" + copy, "--out", repo.path + "/" + out])
        XCTAssertEqual(signed.status, 0, signed.stdout + signed.stderr)
    }

    /// A statement that claims alice but is signed by mallory: `approve` against a branch whose
    /// keyring calls mallory's key `alice`. Imported with `resume --approval` and through
    /// SHIPGATE_APPROVALS (altered to claim bob), neither is ever shown as an approval.
    func testAForgedStatementIsShownAsUnverifiedNeverAsAnApproval() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        let run = try await blockedRun(repo)
        let mallory = try await repo.keygen("mallory")
        try await repo.sh("git checkout -q -b evil")
        let ring = repo.read("pipelines/approvers.yml").split(separator: "\n").filter { !$0.hasPrefix("alice:") }.joined(separator: "\n")
        try repo.write(ring + "\n" + mallory.replacingOccurrences(of: "mallory:", with: "alice:"), to: "pipelines/approvers.yml")
        try await repo.commitAll("alice is mallory")
        try await repo.sh("git checkout -q main")
        try await signElsewhere(repo, run: run, key: repo.key("mallory"), out: "forged.json", trustRef: "evil")
        XCTAssertTrue(repo.read("forged.json").contains(#""approver" : "alice""#), repo.read("forged.json"))
        try await signElsewhere(repo, run: run, key: repo.key("carol"), out: "carol.json")

        let forgedBob = repo.read("forged.json").replacingOccurrences(of: #""approver" : "alice""#, with: #""approver" : "bob""#)
        var env = token
        env["SHIPGATE_APPROVALS"] = forgedBob
        let resumed = try await repo.shipgate(
            ["resume", run, "--output", "plain", "--approval", "forged.json", "--approval", "carol.json"], env: env)
        XCTAssertEqual(resumed.status, 3, "two forged statements and one approval are one approval:\n\(resumed.stdout)\n\(resumed.stderr)")
        XCTAssertTrue(resumed.stdout.contains("1 of 2 approvals (carol)"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("✗ unverified statement claiming alice (approve) not counted: bad signature"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("✗ unverified statement claiming bob (approve) not counted: bad signature"), resumed.stdout)
        XCTAssertFalse(resumed.stdout.contains("approve by alice"), resumed.stdout)
        XCTAssertTrue(resumed.stderr.contains("does not verify against the trusted keyring"), resumed.stderr)

        let text = try await repo.ok(["approvals"]).stdout
        XCTAssertTrue(text.contains("unverified statement claiming alice (approve) at "), text)
        XCTAssertTrue(text.contains("unverified statement claiming bob (approve) at "), text)
        XCTAssertTrue(text.contains("approved by carol"), text)
        XCTAssertFalse(text.contains("approved by alice") || text.contains("approved by bob"), text)

        let json = try await repo.ok(["approvals", "--json"]).stdout
        let gates = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        let gate = try XCTUnwrap(gates.first { $0["run"] as? String == run })
        XCTAssertEqual((gate["approvals"] as? [[String: Any]])?.compactMap { $0["approver"] as? String }, ["carol"])
        let unverified = try XCTUnwrap(gate["unverified"] as? [[String: Any]])
        XCTAssertEqual(Set(unverified.compactMap { $0["claimedApprover"] as? String }), ["alice", "bob"])
        XCTAssertTrue(unverified.allSatisfy { $0["approver"] == nil && $0["verified"] as? Bool == false }, "\(unverified)")

        let audit = try await repo.ok(["audit", "--env", "prod"]).stdout
        let imports = audit.split(separator: "\n").filter { $0.contains("imported by tester") }
        XCTAssertEqual(imports.count, 3, audit)
        for claimed in ["alice", "bob"] {
            XCTAssertTrue(
                imports.contains {
                    $0.contains("unverified-statement-imported by tester") && $0.contains("claimedApprover=\(claimed)") && $0.contains("verified=false")
                },
                audit)
        }
        XCTAssertTrue(imports.contains { $0.contains("approval-imported by tester") && $0.contains("approver=carol") && $0.contains("verified=true") }, audit)
        XCTAssertFalse(audit.contains("approver=alice") || audit.contains("approver=bob"), "the audit log never says alice or bob approved:\n\(audit)")
        try await repo.ok(["audit", "verify"])
    }

    /// `approve` stores the statement and its audit entry together: when the entry cannot be
    /// written, the approver sees an error and the approval does not count.
    func testAnApprovalWhoseAuditEntryCannotBeWrittenDoesNotCount() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        let run = try await blockedRun(repo)
        try await failAudits(repo, kinds: ["approve", "reject"])
        for who in ["alice", "bob"] {
            let out = try await repo.shipgate(["approve", run, "--env", "prod", "--key", repo.key(who)])
            XCTAssertEqual(out.status, 2, out.stdout + out.stderr)
            XCTAssertTrue(out.stderr.contains("cannot record the approval"), out.stderr)
            XCTAssertTrue(out.stderr.contains("nothing was recorded, so it does not count"), out.stderr)
        }
        try await sql(repo, "DROP TRIGGER no_audit")
        let json = try await repo.ok(["approvals", "--json"]).stdout
        XCTAssertFalse(json.contains("alice") || json.contains("\"bob\""), "no approval was stored:\n\(json)")
        let resumed = try await repo.shipgate(["resume", run, "--output", "plain"], env: token)
        XCTAssertEqual(resumed.status, 3, "the deploy stays blocked:\n\(resumed.stdout)")
        XCTAssertTrue(resumed.stdout.contains("0 of 2 approvals"), resumed.stdout)
        XCTAssertFalse(repo.read("live/prod.txt").contains("good"), "prod was never deployed")
    }

    /// A deploy whose outcome cannot be audited fails the job and the run, saying what to do.
    func testADeployWhoseOutcomeCannotBeAuditedFailsTheRun() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        try await repo.ok(["run", "pipelines/deploy.yml", "--job", "deploy-staging"])  // a good, audited release
        let first = try await repo.history("staging")
        let audited = try XCTUnwrap(first.first?["release"] as? String)
        try await failAudits(repo, kinds: ["deploy", "rollback", "rollback-failed"])
        let out = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-staging", "--output", "plain"])
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        XCTAssertTrue(repo.read("live/staging.txt").hasPrefix("good"), "the deploy itself ran")
        XCTAssertTrue(out.stdout.contains("could not be written to the audit log"), out.stdout)
        XCTAssertTrue(out.stdout.contains("Make the state store writable"), out.stdout)
        XCTAssertTrue(out.stdout.contains("`shipgate audit verify`"), out.stdout)
        let run = try XCTUnwrap(GateRepo.runID(out.stdout))
        let status = try await repo.ok(["status", run, "--json"]).stdout
        XCTAssertTrue(status.contains(#""status" : "failed""#), status)
        // It went out, so it is live, but it is no good release: never a rollback target.
        let releases = try await repo.history("staging")
        XCTAssertEqual(releases.map { $0["status"] as? String }, ["unaudited", "success"])
        XCTAssertEqual(releases.first?["needsManualAction"] as? Bool, true)
        let text = try await repo.ok(["history", "--env", "staging"]).stdout
        XCTAssertTrue(text.contains("← live, NOT in the audit log: needs manual action"), text)

        // A rollback whose entry cannot be written: the job fails with the same message.
        try repo.write("BROKEN\n", to: "release.txt")
        let bad = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-staging", "--output", "plain"])
        XCTAssertEqual(bad.status, 1, bad.stdout)
        XCTAssertTrue(bad.stdout.contains("(rolled-back) could not be written to the audit log"), bad.stdout)
        XCTAssertTrue(bad.stdout.contains("rolling back staging to release \(audited)"), "to the last audited good release:\n\(bad.stdout)")
    }

    /// After an automatic rollback fails, the failed release is what runs: `history` marks it
    /// live and needing manual action, `status` says so, and a later good deploy clears it.
    func testAfterARollbackFailsTheFailedReleaseIsLive() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        try await repo.ok(["run", "pipelines/deploy.yml", "--job", "deploy-staging"])
        try repo.write("BROKEN\n", to: "release.txt")
        let loud = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-staging", "--output", "plain"], env: ["FAIL_ROLLBACK": "1"])
        XCTAssertEqual(loud.status, 1, loud.stdout)
        let run = try XCTUnwrap(GateRepo.runID(loud.stdout))
        let releases = try await repo.history("staging")
        XCTAssertEqual(releases.map { $0["status"] as? String }, ["rollback-failed", "success"])
        XCTAssertEqual(releases.first?["live"] as? Bool, true)
        XCTAssertEqual(releases.first?["needsManualAction"] as? Bool, true)
        XCTAssertNil(releases.last?["live"], "the older good release is not what runs")

        let text = try await repo.ok(["history", "--env", "staging"]).stdout
        let lines = text.split(separator: "\n")
        let failed = try XCTUnwrap(releases.first?["release"] as? String)
        let older = try XCTUnwrap(releases.last?["release"] as? String)
        XCTAssertTrue(lines.contains { $0.hasPrefix(failed) && $0.hasSuffix("← live, rollback FAILED: needs manual action") }, text)
        XCTAssertFalse(lines.contains { $0.hasPrefix(older) && $0.contains("←") }, text)
        XCTAssertTrue(text.contains("⚠ staging needs manual action: the rollback of \(failed) failed and release \(failed) is live"), text)

        let status = try await repo.ok(["status", run]).stdout
        XCTAssertTrue(status.contains("⚠ staging needs manual action"), status)
        let statusJSON = try await repo.ok(["status", run, "--json"]).stdout
        XCTAssertTrue(statusJSON.contains(#""rollbackFailed" : "\#(failed)""#), statusJSON)

        try repo.write("good again\n", to: "release.txt")
        try await repo.ok(["run", "pipelines/deploy.yml", "--job", "deploy-staging"])
        let fixed = try await repo.ok(["history", "--env", "staging"]).stdout
        XCTAssertFalse(fixed.contains("needs manual action"), fixed)
        XCTAssertEqual(fixed.components(separatedBy: "← live").count, 2, fixed)
    }
}
