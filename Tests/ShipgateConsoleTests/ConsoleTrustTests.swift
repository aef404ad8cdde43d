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
    func forge(_ f: ConsoleFixture) throws {
        var s = ApprovalStatement(
            decision: .approve, runID: f.runID, pipelineDigest: "sha256:pipeline", environment: "prod", commit: f.commit,
            artifacts: ["build": "sha256:0123456789abcdef"], approver: "alice", issuedAt: Date(), expiresAt: Date().addingTimeInterval(3600))
        try s.sign(with: ApproverKey(name: "alice"))
        try f.store.saveApproval(ApprovalRecords.row(s))
    }

    func testAForgedStatementIsShownAsUnverifiedOnThePageAndInTheAPI() async throws {
        let f = try ConsoleFixture()
        try forge(f)
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

    func release(_ f: ConsoleFixture, _ id: String, _ status: String, version: String, second: Double, rollbackOf: String? = nil) throws {
        try f.store.saveDeployment(
            DeploymentRow(
                release: id, environment: "prod", runID: f.runID, job: "deploy-prod", version: version, commitID: f.commit, artifacts: "{}",
                files: "[]", status: status, approvedBy: "alice,bob", actor: "carol", detail: status == "success" ? nil : "verify failed; rollback: exit 1",
                rollbackOf: rollbackOf, startedAt: StateTime.string(Date(timeIntervalSince1970: 1_795_000_000 + second)),
                policy: "refs/heads/main@c sha256:p"))
    }
}
