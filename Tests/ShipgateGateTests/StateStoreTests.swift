import Foundation
import XCTest

@testable import ShipgatePostgres
@testable import ShipgateState

/// The state store contract, run against SQLite always and against PostgreSQL when
/// `SHIPGATE_TEST_POSTGRES_URL` names a server (scripts/with-postgres.sh starts one).
class StateStoreContract: XCTestCase {
    /// Overridden by each backend: a fresh, empty store.
    func makeStore() throws -> any StateStore { fatalError("abstract") }
    /// Raw SQL against the store's database (tampering, simulating a dead holder).
    func tamper(_ store: any StateStore, _ sql: String) throws { fatalError("abstract") }
    /// Ends a store's process-side hold on its locks (its process "dies").
    func kill(_ store: inout (any StateStore)?) throws { fatalError("abstract") }
    /// SQL that makes every audit append fail (a trigger that raises), and SQL that undoes it.
    var blockAudit: [String] { fatalError("abstract") }
    var unblockAudit: [String] { fatalError("abstract") }

    override func invokeTest() {
        // The base class holds the tests but has no backend.
        if type(of: self) == StateStoreContract.self { return }
        super.invokeTest()
    }

    func testAuditChainDetectsEditsInsertionsAndDeletions() throws {
        let store = try makeStore()
        for i in 1...5 { try store.audit(kind: "gate", actor: "dev", environment: "prod", runID: "r\(i)", detail: ["n": "\(i)"]) }
        let clean = try store.verifyAudit()
        XCTAssertEqual(clean.problems, [])
        XCTAssertEqual(clean.entries, 5)
        try tamper(store, "UPDATE audit SET detail = '{\"n\":\"9\"}' WHERE seq = 3")
        XCTAssertTrue(try store.verifyAudit().problems.contains { $0.contains("entry 3") && $0.contains("edited") })
        try tamper(store, "UPDATE audit SET detail = '{\"n\":\"3\"}' WHERE seq = 3")
        XCTAssertEqual(try store.verifyAudit().problems, [])
        try tamper(store, "DELETE FROM audit WHERE seq = 2")
        XCTAssertTrue(try store.verifyAudit().problems.contains { $0.contains("deleted") })
    }

    /// An approval and its audit entry are stored together or not at all.
    func testAnApprovalIsStoredOnlyWithItsAuditEntry() throws {
        let store = try makeStore()
        let approval = ApprovalRow(
            digest: "y", decision: "approve", approver: "bob", environment: "prod", commitID: "c1", runID: "r1", issuedAt: "t", expiresAt: "t",
            statement: "{}", recordedAt: "t")
        let event = AuditEvent(kind: "approve", actor: "bob", environment: "prod", runID: "r1", detail: ["approver": "bob"])
        for sql in blockAudit { try tamper(store, sql) }
        XCTAssertThrowsError(try store.saveApproval(approval, audit: event))
        XCTAssertEqual(try store.approvals(runID: "r1").count, 0, "no approval without its audit entry")
        for sql in unblockAudit { try tamper(store, sql) }
        XCTAssertEqual(try store.saveApproval(approval, audit: event)?.kind, "approve")
        XCTAssertNil(try store.saveApproval(approval, audit: event), "the same statement is recorded and audited once")
        XCTAssertEqual(try store.auditEntries().map(\.kind), ["approve"])
        XCTAssertEqual(try store.approvals(runID: "r1").map(\.approver), ["bob"])
        XCTAssertEqual(try store.verifyAudit().problems, [])
    }

    func testDeletedTailIsFoundAgainstARecordedHead() throws {
        let store = try makeStore()
        for i in 1...3 { try store.audit(kind: "deploy", actor: "dev", detail: ["n": "\(i)"]) }
        let head = try store.verifyAudit().head
        try store.audit(kind: "deploy", actor: "dev", detail: ["n": "4"])
        XCTAssertEqual(try store.verifyAudit(expectedHead: head).problems, [], "appending after the recorded head is fine")
        try tamper(store, "DELETE FROM audit WHERE seq >= 3")
        XCTAssertEqual(try store.verifyAudit().problems, [], "a cut tail is a valid shorter chain")
        XCTAssertFalse(try store.verifyAudit(expectedHead: head).problems.isEmpty)
    }

    func testConcurrentAppendsFormOneChain() throws {
        let stores = try (0..<4).map { _ in try makeStore() }  // several handles, one database
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for n in 0..<15 { _ = try? stores[i % stores.count].audit(kind: "gate", actor: "runner\(i)", detail: ["n": "\(n)"]) }
        }
        let result = try stores[0].verifyAudit()
        XCTAssertEqual(result.entries, 120)
        XCTAssertEqual(result.problems, [])
    }

    func testLockIsExclusiveAndADeadHoldersLockIsTakenOver() throws {
        var a: (any StateStore)? = try makeStore()
        let b = try makeStore()
        let mine = LockRow(name: "environment:prod#1", runID: "r1", job: "deploy", actor: "dev", acquiredAt: "t")
        XCTAssertEqual(try a!.tryLock(["environment:prod#1"], holder: mine), .acquired(stale: nil))
        var other = mine
        other.runID = "r2"
        guard case .held(let by) = try b.tryLock(["environment:prod#1"], holder: other) else { return XCTFail("second holder got the lock") }
        XCTAssertEqual(by.runID, "r1")
        try kill(&a)
        // The dead holder's session ends on the server's time (PostgreSQL ends the backend once
        // it sees the client gone): wait for that, up to 5 s, instead of expecting it at once.
        var outcome = try b.tryLock(["environment:prod#1"], holder: other)
        for _ in 0..<250 {
            guard case .held = outcome else { break }
            usleep(20_000)
            outcome = try b.tryLock(["environment:prod#1"], holder: other)
        }
        guard case .acquired(let stale) = outcome else { return XCTFail("dead lock not taken over") }
        XCTAssertEqual(stale?.runID, "r1")
        try b.unlock(["environment:prod#1"], runID: "r2", job: "deploy")
        XCTAssertEqual(try b.locks(), [])
        // Slots: concurrency 2 lets two holders in, not three.
        let slots = ["environment:qa#1", "environment:qa#2"]
        let c = try makeStore()
        XCTAssertEqual(try b.tryLock(slots, holder: other), .acquired(stale: nil))
        XCTAssertEqual(try c.tryLock(slots, holder: mine), .acquired(stale: nil))
        let d = try makeStore()
        guard case .held = try d.tryLock(slots, holder: mine) else { return XCTFail("a third holder got one of two slots") }
    }

    func testRunsOfDeadProcessesAreMarkedInterrupted() throws {
        let store = try makeStore()
        let live = RunRow(
            id: "live", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "d", status: "running", actor: "dev", commitID: nil, branch: nil, version: nil,
            workspace: "/w", startedAt: "2026-11-26T00:00:00.000Z")
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
        XCTAssertEqual(try store.findRun("de")?.id, "dead")
        XCTAssertEqual(try store.findRun("last")?.id, "live")
    }

    func testRecordsRoundTrip() throws {
        let store = try makeStore()
        let run = RunRow(
            id: "r1", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "sha256:d", status: "running", actor: "ada", commitID: "c1",
            branch: "main", version: "v1", workspace: "/w", partial: true, selection: "[\"a\"]", git: "{}", startedAt: "2026-11-26T00:00:00.000Z")
        try store.beginRun(run)
        XCTAssertEqual(try store.run("r1"), run)
        try store.save(
            jobs: [JobRow(runID: "r1", id: "build", status: "success", record: "{\"id\":\"build\"}", finishedAt: nil)],
            attempts: [AttemptRow(runID: "r1", job: "build", attempt: 1, status: "failed", reason: "exit 1", at: "t")])
        try store.saveJob(JobRow(runID: "r1", id: "build", status: "failed", record: "{}", finishedAt: "t2"))
        XCTAssertEqual(try store.jobs(ofRun: "r1").map(\.status), ["failed"])
        XCTAssertEqual(try store.attempts(ofRun: "r1").count, 1)
        try store.finishRun("r1", status: "blocked")
        XCTAssertEqual(try store.run("r1")?.status, "blocked")

        let gate = GateRow(
            runID: "r1", job: "deploy", environment: "prod", commitID: "c1", pipelineDigest: "sha256:d", artifacts: "{}", status: "blocked",
            decision: "{}", requestedBy: "ada", requestedAt: "t1", updatedAt: "t1")
        try store.saveGate(gate)
        var later = gate
        later.status = "passed"
        later.requestedAt = "t9"
        try store.saveGate(later)
        XCTAssertEqual(try store.gates(ofRun: "r1").first?.requestedAt, "t1", "the first request time is kept")
        XCTAssertEqual(try store.blockedGates(), [])

        let approval = ApprovalRow(
            digest: "x", decision: "approve", approver: "bob", environment: "prod", commitID: "c1", runID: "r1", issuedAt: "t", expiresAt: "t",
            statement: "{}", recordedAt: "t")
        XCTAssertTrue(try store.saveApproval(approval))
        XCTAssertFalse(try store.saveApproval(approval), "the same statement is recorded once")
        XCTAssertEqual(try store.approvals(environment: "prod", commitID: "c1").map(\.approver), ["bob"])
        XCTAssertEqual(try store.approvals(runID: "r1").count, 1)

        for (n, status) in ["success", "success", "rolled-back"].enumerated() {
            try store.saveDeployment(
                DeploymentRow(
                    release: "prod-\(n)", environment: "prod", runID: "r1", job: "deploy", version: "v\(n)", commitID: "c\(n)", artifacts: "{}",
                    files: "[]", status: status, approvedBy: "bob", actor: "ada", startedAt: "2026-11-26T00:00:0\(n).000Z",
                    policy: "refs/heads/main@c0 sha256:p"))
        }
        XCTAssertEqual(try store.deployments(environment: "prod").map(\.release), ["prod-2", "prod-1", "prod-0"])
        XCTAssertEqual(try store.lastGood(environment: "prod")?.release, "prod-1")
        try store.updateDeployment("prod-1", status: "rolled-back", detail: "by hand", finished: true)
        XCTAssertEqual(try store.deployment("prod-1")?.detail, "by hand")
        XCTAssertEqual(try store.deployment("prod-1")?.policy, "refs/heads/main@c0 sha256:p", "the policy round-trips")
        XCTAssertEqual(try store.retainedFiles { _ in 5 }.map(\.release), ["prod-0"])
    }

    /// What the release console asks: pages of runs, filtered releases, the audit tail and
    /// what came after a known entry, and aggregates for /metrics.
    func testConsoleQueries() throws {
        let store = try makeStore()
        for i in 0..<5 {
            try store.beginRun(
                RunRow(
                    id: "r\(i)", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "d", status: "running", actor: "ada", commitID: "c\(i % 2)",
                    branch: "main", version: "v\(i)", workspace: "/w", startedAt: "2026-11-26T00:00:0\(i).000Z"))
            try store.finishRun("r\(i)", status: i == 4 ? "blocked" : "success")
            try store.save(
                jobs: [
                    JobRow(runID: "r\(i)", id: "build", status: i % 2 == 0 ? "cached" : "success", record: "{}", finishedAt: nil, durationMs: 1500),
                    JobRow(runID: "r\(i)", id: "test", status: "failed", record: "{}", finishedAt: nil, durationMs: 250),
                ], attempts: [])
            try store.saveDeployment(
                DeploymentRow(
                    release: "rel-\(i)", environment: i < 3 ? "prod" : "staging", runID: "r\(i)", job: "deploy", version: "v\(i)", commitID: "c\(i % 2)",
                    artifacts: "{}", files: "[]", status: i == 2 ? "failed" : "success", approvedBy: "", actor: "ada", rollbackOf: i == 1 ? "rel-0" : nil,
                    startedAt: "2026-11-26T00:00:0\(i).000Z", policy: "refs/heads/main@c0 sha256:p"))
            try store.audit(kind: "gate", actor: "ada", environment: i < 3 ? "prod" : "staging", runID: "r\(i)", detail: ["n": "\(i)"])
        }
        try store.saveGate(
            GateRow(
                runID: "r4", job: "deploy", environment: "prod", commitID: "c0", pipelineDigest: "d", artifacts: "{}", status: "blocked", decision: "{}",
                requestedBy: "ada", requestedAt: "2026-11-26T00:00:04.000Z", updatedAt: "2026-11-26T00:00:04.000Z"))

        XCTAssertEqual(try store.runs(limit: 2, offset: 0).map(\.id), ["r4", "r3"])
        XCTAssertEqual(try store.runs(limit: 2, offset: 3).map(\.id), ["r1", "r0"])
        XCTAssertEqual(try store.deployments(environment: "prod", status: "success", commitID: nil, limit: 10).map(\.release), ["rel-1", "rel-0"])
        XCTAssertEqual(try store.deployments(environment: nil, status: nil, commitID: "c1", limit: 10).map(\.release), ["rel-3", "rel-1"])
        XCTAssertEqual(try store.lastGood(environment: "prod")?.release, "rel-1")
        XCTAssertEqual(try store.lastGood(environment: "prod", excluding: "rel-1")?.release, "rel-0")
        // A newer good release made outside the trusted policy is history only: never the last good one.
        try store.saveDeployment(
            DeploymentRow(
                release: "rel-untrusted", environment: "prod", runID: "r9", job: "deploy", version: "v9", commitID: "c9", artifacts: "{}", files: "[]",
                status: "success", approvedBy: "", actor: "mallory", startedAt: "2026-11-26T00:00:09.000Z"))
        XCTAssertEqual(try store.lastGood(environment: "prod")?.release, "rel-1")
        XCTAssertFalse(try store.deployment("rel-untrusted")!.countsAsTarget)
        XCTAssertEqual(try store.latestAudit(limit: 2, environment: nil).map(\.seq), [5, 4])
        XCTAssertEqual(try store.latestAudit(limit: 10, environment: "staging").map(\.seq), [5, 4])
        XCTAssertEqual(try store.auditEntries(environment: nil, afterSeq: 3).map(\.seq), [4, 5])

        let m = try store.metrics()
        XCTAssertEqual(m.runsByStatus, ["success": 4, "blocked": 1])
        XCTAssertEqual(m.jobsByStatus, ["cached": 3, "success": 2, "failed": 5])
        XCTAssertEqual(m.jobDurationsMs.sorted(), [250, 250, 250, 250, 250, 1500, 1500])
        XCTAssertEqual(m.deploymentsByStatus, ["success": 5, "failed": 1], "the untrusted release is still a deploy")
        XCTAssertEqual(m.rollbacks, 1)
        XCTAssertEqual(m.pendingApprovals, 1)
        XCTAssertEqual(m.oldestPendingAt, "2026-11-26T00:00:04.000Z")
        XCTAssertEqual(m.gatesByStatus, ["blocked": 1])
    }
}

final class SQLiteStateStoreTests: StateStoreContract {
    var dir = ""

    override func setUp() { dir = NSTemporaryDirectory() + "state-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    override func makeStore() throws -> any StateStore { try SQLiteStateStore(stateDirectory: dir) }

    override func tamper(_ store: any StateStore, _ sql: String) throws {
        try (store as! SQLiteStateStore).write { db in try db.execute(sql: sql) }
    }

    override func kill(_ store: inout (any StateStore)?) throws {
        try tamper(store!, "UPDATE locks SET pid = 2147483646")
        store = nil
    }

    override var blockAudit: [String] { ["CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END"] }
    override var unblockAudit: [String] { ["DROP TRIGGER no_audit"] }

    func testTimesRoundTripWithMilliseconds() {
        let d = Date(timeIntervalSince1970: 1_795_000_000.123)
        XCTAssertEqual(StateTime.string(d), "2026-11-18T11:06:40.123Z")
        XCTAssertEqual(StateTime.date(StateTime.string(d))!.timeIntervalSince1970, 1_795_000_000.123, accuracy: 0.001)
    }
}

final class PostgresStateStoreTests: StateStoreContract {
    var adminURL = ""
    var database = ""
    var stores: [PostgresStateStore] = []

    override func setUpWithError() throws {
        guard let url = ProcessInfo.processInfo.environment["SHIPGATE_TEST_POSTGRES_URL"], !url.isEmpty else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_POSTGRES"] == "1" {
                XCTFail("SHIPGATE_TEST_POSTGRES_URL is not set (scripts/with-postgres.sh starts a server)")
            }
            throw XCTSkip("no PostgreSQL server: set SHIPGATE_TEST_POSTGRES_URL, or run through scripts/with-postgres.sh")
        }
        adminURL = url
        database = "shipgate_test_" + UUID().uuidString.prefix(8).lowercased()
        try PostgresStateStore.administer(url, "CREATE DATABASE \(database)")
    }

    override func tearDownWithError() throws {
        guard !database.isEmpty else { return }
        stores = []
        try PostgresStateStore.administer(adminURL, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
    }

    var url: String {
        var c = URLComponents(string: adminURL)!
        c.path = "/" + database
        return c.string!
    }

    override func makeStore() throws -> any StateStore {
        let store = try PostgresStateStore(url: url)
        stores.append(store)
        return store
    }

    override func tamper(_ store: any StateStore, _ sql: String) throws {
        try (store as! PostgresStateStore).exec(sql)
    }

    override func kill(_ store: inout (any StateStore)?) throws {
        // Closing the session is what a dying runner does: its advisory locks go with it.
        stores.removeAll { $0 === (store as AnyObject) }
        store = nil
    }

    override var blockAudit: [String] {
        [
            "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit unavailable'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION no_audit()",
        ]
    }
    override var unblockAudit: [String] { ["DROP TRIGGER no_audit ON audit"] }

    func testURLParsingAndRedaction() throws {
        let u = try PostgresURL("postgres://ci:s3cret@db.internal:6543/shipgate?sslmode=require", environment: [:])
        XCTAssertEqual(u.user, "ci")
        XCTAssertEqual(u.password, "s3cret")
        XCTAssertEqual(u.port, 6543)
        XCTAssertEqual(u.tls, .require)
        XCTAssertFalse(u.redacted.contains("s3cret"))
        let env = try PostgresURL("postgres://ci@db/shipgate", environment: ["PGPASSWORD": "fromenv"])
        XCTAssertEqual(env.password, "fromenv")
        XCTAssertThrowsError(try PostgresURL("postgres://ci@db/x?sslmode=bogus", environment: [:]))
    }
}

/// The state store's timestamp text round-trips, fast path and fallback alike.
final class StateTimeTests: XCTestCase {
    func testParsesWhatItWritesAndOtherISOForms() {
        for t in [0, 1_795_000_000.123, 1_795_000_000, 951_782_400.999] {  // 951782400: 2000-02-29
            let d = Date(timeIntervalSince1970: t)
            XCTAssertEqual(StateTime.date(StateTime.string(d))!.timeIntervalSince1970, (t * 1000).rounded(.down) / 1000, accuracy: 0.0005)
        }
        XCTAssertEqual(StateTime.date("2026-11-27T10:00:00Z")?.timeIntervalSince1970, 1_795_773_600)
        XCTAssertEqual(StateTime.date("2026-11-27T11:00:00+01:00")?.timeIntervalSince1970, 1_795_773_600, "other offsets take the slow path")
        XCTAssertNil(StateTime.date("2026-11-27 10:00:00"))
        XCTAssertNil(StateTime.date("2026-1x-27T10:00:00Z"))
    }
}
