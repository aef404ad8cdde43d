import Foundation
import XCTest

@testable import ShipgateState

/// The SQLite state store: audit chain, locks held by dead processes, interrupted runs.
final class StateStoreTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = NSTemporaryDirectory() + "state-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testAuditChainDetectsEditsInsertionsAndDeletions() throws {
        let store = try StateStore(stateDirectory: dir)
        for i in 1...5 { try store.audit(kind: "gate", actor: "dev", environment: "prod", runID: "r\(i)", detail: ["n": "\(i)"]) }
        let clean = try store.verifyAudit()
        XCTAssertEqual(clean.problems, [])
        XCTAssertEqual(clean.entries, 5)

        try store.write { db in try db.execute(sql: "UPDATE audit SET detail = '{\"n\":\"9\"}' WHERE seq = 3") }
        XCTAssertTrue(try store.verifyAudit().problems.contains { $0.contains("entry 3") && $0.contains("edited") })
        try store.write { db in try db.execute(sql: "UPDATE audit SET detail = '{\"n\":\"3\"}' WHERE seq = 3") }
        XCTAssertEqual(try store.verifyAudit().problems, [])

        try store.write { db in try db.execute(sql: "DELETE FROM audit WHERE seq = 2") }
        XCTAssertTrue(try store.verifyAudit().problems.contains { $0.contains("deleted") })
    }

    func testDeletedTailIsFoundAgainstARecordedHead() throws {
        let store = try StateStore(stateDirectory: dir)
        for i in 1...3 { try store.audit(kind: "deploy", actor: "dev", detail: ["n": "\(i)"]) }
        let head = try store.verifyAudit().head
        try store.audit(kind: "deploy", actor: "dev", detail: ["n": "4"])
        XCTAssertEqual(try store.verifyAudit(expectedHead: head).problems, [], "appending after the recorded head is fine")
        try store.write { db in try db.execute(sql: "DELETE FROM audit WHERE seq >= 3") }
        XCTAssertEqual(try store.verifyAudit().problems, [], "a cut tail is a valid shorter chain")
        XCTAssertFalse(try store.verifyAudit(expectedHead: head).problems.isEmpty)
    }

    func testLockIsExclusiveAndADeadHoldersLockIsTakenOver() throws {
        let store = try StateStore(stateDirectory: dir)
        let mine = LockRow(name: "environment:prod#1", runID: "r1", job: "deploy", actor: "dev", acquiredAt: "t")
        XCTAssertEqual(try store.tryLock(["environment:prod#1"], holder: mine), .acquired(stale: nil))
        var other = mine
        other.runID = "r2"
        guard case .held(let by) = try store.tryLock(["environment:prod#1"], holder: other) else { return XCTFail("second holder got the lock") }
        XCTAssertEqual(by.runID, "r1")
        // A holder whose process is gone (a pid that cannot exist) is replaced.
        try store.write { db in try db.execute(sql: "UPDATE locks SET pid = 2147483646") }
        guard case .acquired(let stale) = try store.tryLock(["environment:prod#1"], holder: other) else { return XCTFail("dead lock not taken over") }
        XCTAssertEqual(stale?.runID, "r1")
        try store.unlock(["environment:prod#1"], runID: "r2", job: "deploy")
        XCTAssertEqual(try store.locks(), [])
    }

    func testRunsOfDeadProcessesAreMarkedInterrupted() throws {
        let store = try StateStore(stateDirectory: dir)
        let live = RunRow(
            id: "live", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "d", status: "running", actor: "dev", commitID: nil, branch: nil, version: nil,
            workspace: dir, startedAt: "2026-11-26T00:00:00.000Z")
        var dead = live
        dead.id = "dead"
        dead.pid = 2_147_483_646
        try store.beginRun(live)
        try store.beginRun(dead)
        try store.saveDeployment(
            DeploymentRow(
                release: "prod-1", environment: "prod", runID: "dead", job: "deploy", version: nil, commitID: nil, artifacts: "{}", files: "[]",
                status: "deploying", approvedBy: "", actor: "dev", pid: 2_147_483_646, startedAt: "2026-11-26T00:00:00.000Z"))
        XCTAssertEqual(try store.markInterrupted(), ["dead"])
        XCTAssertEqual(try store.run("dead")?.status, "interrupted")
        XCTAssertEqual(try store.run("live")?.status, "running")
        XCTAssertEqual(try store.deployment("prod-1")?.status, "interrupted")
        // Reopening applies no migration twice and keeps the data.
        XCTAssertEqual(try StateStore(stateDirectory: dir).run("dead")?.status, "interrupted")
    }

    func testTimesRoundTripWithMilliseconds() {
        let d = Date(timeIntervalSince1970: 1_795_000_000.123)
        XCTAssertEqual(StateTime.string(d), "2026-11-18T11:06:40.123Z")
        XCTAssertEqual(StateTime.date(StateTime.string(d))!.timeIntervalSince1970, 1_795_000_000.123, accuracy: 0.001)
    }
}
