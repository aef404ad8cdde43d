import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ShipgateConsole
import ShipgateGate
import ShipgateRelease
import ShipgateState
import XCTest

/// What the console shows as trusted: approvals only when their signature verifies against the
/// trusted keyring, and the release an environment really runs after a rollback failed.
final class ConsoleTrustTests: XCTestCase {
    typealias Browser = ConsoleTests.Browser

    func app(_ f: ConsoleFixture) -> some ApplicationProtocol { Application(router: ConsoleServer.router(f.console)) }

    /// A statement claiming alice, signed by a key the keyring does not hold.
    func forge(_ f: ConsoleFixture) async throws {
        var s = ApprovalStatement(
            decision: .approve, runID: f.runID, pipelineDigest: "sha256:pipeline", environment: "prod", commit: f.commit,
            artifacts: ["build": "sha256:0123456789abcdef"], approver: "alice", issuedAt: Date(), expiresAt: Date().addingTimeInterval(3600))
        try s.sign(with: ApproverKey(name: "alice"))
        try await f.store.saveApproval(ApprovalRecords.row(s))
    }

    func testAForgedStatementIsShownAsUnverifiedOnThePageAndInTheAPI() async throws {
        let f = try await ConsoleFixture()
        try await forge(f)
        let token = try f.console.users.newToken(for: "bob")
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("bob")
            let page = String(buffer: try await b.request("/approvals").body)
            XCTAssertTrue(page.contains("unverified statement</b> claiming alice (approve), not counted: bad signature"), page)
            XCTAssertFalse(page.contains("approved by <b>alice</b>"), page)
            XCTAssertTrue(page.contains("Not counted: unverified statement claiming alice (approve): bad signature"), page)

            let r = try await client.execute(uri: "/api/approvals?pending=true", method: .get, headers: [.authorization: "Bearer \(token)"])
            let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [[String: Any]])
            XCTAssertEqual((list.first?["approvals"] as? [Any])?.count, 0, "a forged statement is no approval: \(list)")
            let unverified = try XCTUnwrap(list.first?["unverified"] as? [[String: Any]])
            XCTAssertEqual(unverified.first?["claimedApprover"] as? String, "alice")
            XCTAssertEqual(unverified.first?["verified"] as? Bool, false)
            XCTAssertNil(unverified.first?["approver"], "no `approver` key for a forged statement")
        }
    }

    func release(_ f: ConsoleFixture, _ id: String, _ status: String, version: String, second: Double, rollbackOf: String? = nil) async throws {
        try await f.store.saveDeployment(
            DeploymentRow(
                release: id, environment: "prod", runID: f.runID, job: "deploy-prod", version: version, commitID: f.commit, artifacts: "{}",
                files: "[]", status: status, approvedBy: "alice,bob", actor: "carol", detail: status == "success" ? nil : "verify failed; rollback: exit 1",
                rollbackOf: rollbackOf, startedAt: StateTime.string(Date(timeIntervalSince1970: 1_795_000_000 + second)),
                policy: "refs/heads/main@c sha256:p"))
    }

    func testAfterAFailedRollbackTheFailedReleaseIsLiveEverywhere() async throws {
        let f = try await ConsoleFixture()
        try await release(f, "prod-1", "success", version: "v1.1.0", second: 1)
        try await release(f, "prod-2", "rollback-failed", version: "v1.2.0", second: 2)
        let token = try f.console.users.newToken(for: "bob")
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("bob")
            let envs = String(buffer: try await b.request("/environments").body)
            XCTAssertTrue(envs.contains("Live (rollback failed): <b>v1.2.0</b>"), envs)
            XCTAssertTrue(envs.contains("⚠ Rollback FAILED: prod needs manual action"), envs)
            XCTAssertFalse(envs.contains("Current: <b>v1.1.0</b>"), envs)

            let history = String(buffer: try await b.request("/environments/prod/history").body)
            XCTAssertTrue(history.contains("<code>prod-2</code> <b>← live, rollback FAILED: needs manual action</b>"), history)
            XCTAssertTrue(history.contains("rollback?to=prod-1"), "the good release is offered as the way back:\n\(history)")

            let r = try await client.execute(uri: "/api/environments", method: .get, headers: [.authorization: "Bearer \(token)"])
            let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [[String: Any]])
            let prod = try XCTUnwrap(list.first { $0["name"] as? String == "prod" })
            XCTAssertEqual((prod["current"] as? [String: Any])?["release"] as? String, "prod-2")
            XCTAssertEqual(prod["needsManualAction"] as? Bool, true)
        }
    }

    /// The one rule, on its own: what is live after each kind of ending.
    func testLiveReleaseRules() throws {
        func row(_ id: String, _ status: String, rollbackOf: String? = nil) -> DeploymentRow {
            DeploymentRow(
                release: id, environment: "prod", runID: "r", job: "deploy", version: nil, commitID: nil, artifacts: "{}", files: "[]", status: status,
                approvedBy: "", actor: "a", rollbackOf: rollbackOf, startedAt: "t")
        }
        // Newest first.
        XCTAssertEqual(LiveRelease.of([row("b", "rolled-back"), row("a", "success")]).release?.release, "a")
        XCTAssertFalse(LiveRelease.of([row("b", "failed"), row("a", "success")]).needsManualAction)
        let auto = LiveRelease.of([row("b", "rollback-failed"), row("a", "success")])
        XCTAssertEqual(auto.release?.release, "b")
        XCTAssertTrue(auto.needsManualAction)
        let manual = LiveRelease.of([row("rb", "rollback-failed", rollbackOf: "a"), row("b", "success"), row("a", "success")])
        XCTAssertEqual(manual.release?.release, "b", "the release it was rolling back from is still live")
        XCTAssertEqual(manual.failedRollback?.release, "rb")
        let fixed = LiveRelease.of([row("c", "deploying"), row("c0", "success"), row("b", "rollback-failed"), row("a", "success")])
        XCTAssertEqual(fixed.release?.release, "c0")
        XCTAssertFalse(fixed.needsManualAction, "a good deploy after the failure clears it")
        XCTAssertNil(LiveRelease.of([row("a", "failed")]).release)
    }
}
