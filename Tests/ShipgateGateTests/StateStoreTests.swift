import Foundation
import XCTest

@testable import ShipgatePostgres
@testable import ShipgateState

/// The state store contract, run against SQLite always and against PostgreSQL when
/// `SHIPGATE_TEST_POSTGRES_URL` names a server (scripts/with-postgres.sh starts one).
class StateStoreContract: XCTestCase {
    /// Overridden by each backend: a fresh, empty store.
    func makeStore() async throws -> any StateStore { fatalError("abstract") }
    /// Raw SQL against the store's database (tampering, simulating a dead holder).
    func tamper(_ store: any StateStore, _ sql: String) async throws { fatalError("abstract") }
    /// Ends a store's process-side hold on its locks (its process "dies").
    func kill(_ store: inout (any StateStore)?) async throws { fatalError("abstract") }
    /// SQL that makes every audit append fail (a trigger that raises), and SQL that undoes it.
    var blockAudit: [String] { fatalError("abstract") }
    var unblockAudit: [String] { fatalError("abstract") }

    override func invokeTest() {
        // The base class holds the tests but has no backend.
        if type(of: self) == StateStoreContract.self { return }
        super.invokeTest()
    }

    func testAuditChainDetectsEditsInsertionsAndDeletions() async throws {
        let store = try await makeStore()
        for i in 1...5 { try await store.audit(kind: "gate", actor: "dev", environment: "prod", runID: "r\(i)", detail: ["n": "\(i)"]) }
        let clean = try await store.verifyAudit()
        XCTAssertEqual(clean.problems, [])
        XCTAssertEqual(clean.entries, 5)
        try await tamper(store, "UPDATE audit SET detail = '{\"n\":\"9\"}' WHERE seq = 3")
        let v33 = try await store.verifyAudit().problems.contains { $0.contains("entry 3") && $0.contains("edited") }
        XCTAssertTrue(v33)
        try await tamper(store, "UPDATE audit SET detail = '{\"n\":\"3\"}' WHERE seq = 3")
        let v35 = try await store.verifyAudit().problems
        XCTAssertEqual(v35, [])
        try await tamper(store, "DELETE FROM audit WHERE seq = 2")
        let v37 = try await store.verifyAudit().problems.contains { $0.contains("deleted") }
        XCTAssertTrue(v37)
    }

    /// An approval and its audit entry are stored together or not at all.
    func testAnApprovalIsStoredOnlyWithItsAuditEntry() async throws {
        let store = try await makeStore()
        let approval = ApprovalRow(
            digest: "y", decision: "approve", approver: "bob", environment: "prod", commitID: "c1", runID: "r1", issuedAt: "t", expiresAt: "t",
            statement: "{}", recordedAt: "t")
        let event = AuditEvent(kind: "approve", actor: "bob", environment: "prod", runID: "r1", detail: ["approver": "bob"])
        for sql in blockAudit { try await tamper(store, sql) }
        await XCTAssertThrowsErrorAsync(try await store.saveApproval(approval, audit: event))
        let v49 = try await store.approvals(runID: "r1").count
        XCTAssertEqual(v49, 0, "no approval without its audit entry")
        for sql in unblockAudit { try await tamper(store, sql) }
        let v51 = try await store.saveApproval(approval, audit: event)?.kind
        XCTAssertEqual(v51, "approve")
        let v52 = try await store.saveApproval(approval, audit: event)
        XCTAssertNil(v52, "the same statement is recorded and audited once")
        let v53 = try await store.auditEntries().map(\.kind)
        XCTAssertEqual(v53, ["approve"])
        let v54 = try await store.approvals(runID: "r1").map(\.approver)
        XCTAssertEqual(v54, ["bob"])
        let v55 = try await store.verifyAudit().problems
        XCTAssertEqual(v55, [])
    }

    func testDeletedTailIsFoundAgainstARecordedHead() async throws {
        let store = try await makeStore()
        for i in 1...3 { try await store.audit(kind: "deploy", actor: "dev", detail: ["n": "\(i)"]) }
        let head = try await store.verifyAudit().head
        try await store.audit(kind: "deploy", actor: "dev", detail: ["n": "4"])
        let v63 = try await store.verifyAudit(expectedHead: head).problems
        XCTAssertEqual(v63, [], "appending after the recorded head is fine")
        try await tamper(store, "DELETE FROM audit WHERE seq >= 3")
        let v65 = try await store.verifyAudit().problems
        XCTAssertEqual(v65, [], "a cut tail is a valid shorter chain")
        let v66 = try await store.verifyAudit(expectedHead: head).problems.isEmpty
        XCTAssertFalse(v66)
    }

    func testConcurrentAppendsFormOneChain() async throws {
        var stores: [any StateStore] = []  // several handles, one database
        for _ in 0..<4 { stores.append(try await makeStore()) }
        let handles = stores
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    for n in 0..<15 { _ = try? await handles[i % handles.count].audit(kind: "gate", actor: "runner\(i)", detail: ["n": "\(n)"]) }
                }
            }
        }
        let result = try await stores[0].verifyAudit()
        XCTAssertEqual(result.entries, 120)
        XCTAssertEqual(result.problems, [])
    }

    func testLockIsExclusiveAndADeadHoldersLockIsTakenOver() async throws {
        var a: (any StateStore)? = try await makeStore()
        let b = try await makeStore()
        let mine = LockRow(name: "environment:prod#1", runID: "r1", job: "deploy", actor: "dev", acquiredAt: "t")
        let v89 = try await a!.tryLock(["environment:prod#1"], holder: mine)
        XCTAssertEqual(v89, .acquired(stale: nil))
        var other = mine
        other.runID = "r2"
        guard case .held(let by) = try await b.tryLock(["environment:prod#1"], holder: other) else { return XCTFail("second holder got the lock") }
        XCTAssertEqual(by.runID, "r1")
        try await kill(&a)
        // The dead holder's session ends on the server's time (PostgreSQL ends the backend once
        // it sees the client gone): wait for that, up to 5 s, instead of expecting it at once.
        var outcome = try await b.tryLock(["environment:prod#1"], holder: other)
        for _ in 0..<250 {
            guard case .held = outcome else { break }
            usleep(20_000)
            outcome = try await b.tryLock(["environment:prod#1"], holder: other)
        }
        guard case .acquired(let stale) = outcome else { return XCTFail("dead lock not taken over") }
        XCTAssertEqual(stale?.runID, "r1")
        try await b.unlock(["environment:prod#1"], runID: "r2", job: "deploy")
        let v106 = try await b.locks()
        XCTAssertEqual(v106, [])
        // Slots: concurrency 2 lets two holders in, not three.
        let slots = ["environment:qa#1", "environment:qa#2"]
        let c = try await makeStore()
        let v110 = try await b.tryLock(slots, holder: other)
        XCTAssertEqual(v110, .acquired(stale: nil))
        let v111 = try await c.tryLock(slots, holder: mine)
        XCTAssertEqual(v111, .acquired(stale: nil))
        let d = try await makeStore()
        guard case .held = try await d.tryLock(slots, holder: mine) else { return XCTFail("a third holder got one of two slots") }
    }

    func testRunsOfDeadProcessesAreMarkedInterrupted() async throws {
        let store = try await makeStore()
        let live = RunRow(
            id: "live", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "d", status: "running", actor: "dev", commitID: nil, branch: nil, version: nil,
            workspace: "/w", startedAt: "2026-11-26T00:00:00.000Z")
        var dead = live
        dead.id = "dead"
        dead.pid = 2_147_483_646
        try await store.beginRun(live)
        try await store.beginRun(dead)
        try await store.saveDeployment(
            DeploymentRow(
                release: "prod-1", environment: "prod", runID: "dead", job: "deploy", version: nil, commitID: nil, artifacts: "{}", files: "[]",
                status: "deploying", approvedBy: "", actor: "dev", pid: 2_147_483_646, startedAt: "2026-11-26T00:00:00.000Z"))
        let v130 = try await store.markInterrupted()
        XCTAssertEqual(v130, ["dead"])
        let v131 = try await store.run("dead")?.status
        XCTAssertEqual(v131, "interrupted")
        let v132 = try await store.run("live")?.status
        XCTAssertEqual(v132, "running")
        let v133 = try await store.deployment("prod-1")?.status
        XCTAssertEqual(v133, "interrupted")
        let v134 = try await store.findRun("de")?.id
        XCTAssertEqual(v134, "dead")
        let v135 = try await store.findRun("last")?.id
        XCTAssertEqual(v135, "live")
    }

    func testRecordsRoundTrip() async throws {
        let store = try await makeStore()
        let run = RunRow(
            id: "r1", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "sha256:d", status: "running", actor: "ada", commitID: "c1",
            branch: "main", version: "v1", workspace: "/w", partial: true, selection: "[\"a\"]", git: "{}", startedAt: "2026-11-26T00:00:00.000Z")
        try await store.beginRun(run)
        let v144 = try await store.run("r1")
        XCTAssertEqual(v144, run)
        try await store.save(
            jobs: [JobRow(runID: "r1", id: "build", status: "success", record: "{\"id\":\"build\"}", finishedAt: nil)],
            attempts: [AttemptRow(runID: "r1", job: "build", attempt: 1, status: "failed", reason: "exit 1", at: "t")])
        try await store.saveJob(JobRow(runID: "r1", id: "build", status: "failed", record: "{}", finishedAt: "t2"))
        let v149 = try await store.jobs(ofRun: "r1").map(\.status)
        XCTAssertEqual(v149, ["failed"])
        let v150 = try await store.attempts(ofRun: "r1").count
        XCTAssertEqual(v150, 1)
        try await store.finishRun("r1", status: "blocked")
        let v152 = try await store.run("r1")?.status
        XCTAssertEqual(v152, "blocked")

        let gate = GateRow(
            runID: "r1", job: "deploy", environment: "prod", commitID: "c1", pipelineDigest: "sha256:d", artifacts: "{}", status: "blocked",
            decision: "{}", requestedBy: "ada", requestedAt: "t1", updatedAt: "t1")
        try await store.saveGate(gate)
        var later = gate
        later.status = "passed"
        later.requestedAt = "t9"
        try await store.saveGate(later)
        let v162 = try await store.gates(ofRun: "r1").first?.requestedAt
        XCTAssertEqual(v162, "t1", "the first request time is kept")
        let v163 = try await store.blockedGates()
        XCTAssertEqual(v163, [])

        let approval = ApprovalRow(
            digest: "x", decision: "approve", approver: "bob", environment: "prod", commitID: "c1", runID: "r1", issuedAt: "t", expiresAt: "t",
            statement: "{}", recordedAt: "t")
        let v168 = try await store.saveApproval(approval)
        XCTAssertTrue(v168)
        let v169 = try await store.saveApproval(approval)
        XCTAssertFalse(v169, "the same statement is recorded once")
        let v170 = try await store.approvals(environment: "prod", commitID: "c1").map(\.approver)
        XCTAssertEqual(v170, ["bob"])
        let v171 = try await store.approvals(runID: "r1").count
        XCTAssertEqual(v171, 1)

        for (n, status) in ["success", "success", "rolled-back"].enumerated() {
            try await store.saveDeployment(
                DeploymentRow(
                    release: "prod-\(n)", environment: "prod", runID: "r1", job: "deploy", version: "v\(n)", commitID: "c\(n)", artifacts: "{}",
                    files: "[]", status: status, approvedBy: "bob", actor: "ada", startedAt: "2026-11-26T00:00:0\(n).000Z",
                    policy: "refs/heads/main@c0 sha256:p"))
        }
        let v180 = try await store.deployments(environment: "prod").map(\.release)
        XCTAssertEqual(v180, ["prod-2", "prod-1", "prod-0"])
        let v181 = try await store.lastGood(environment: "prod")?.release
        XCTAssertEqual(v181, "prod-1")
        try await store.updateDeployment("prod-1", status: "rolled-back", detail: "by hand", finished: true)
        let v183 = try await store.deployment("prod-1")?.detail
        XCTAssertEqual(v183, "by hand")
        let v184 = try await store.deployment("prod-1")?.policy
        XCTAssertEqual(v184, "refs/heads/main@c0 sha256:p", "the policy round-trips")
        let v185 = try await store.retainedFiles { _ in 5 }.map(\.release)
        XCTAssertEqual(v185, ["prod-0"])
    }

    /// What the release console asks: pages of runs, filtered releases, the audit tail and
    /// what came after a known entry, and aggregates for /metrics.
    func testConsoleQueries() async throws {
        let store = try await makeStore()
        for i in 0..<5 {
            try await store.beginRun(
                RunRow(
                    id: "r\(i)", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "d", status: "running", actor: "ada", commitID: "c\(i % 2)",
                    branch: "main", version: "v\(i)", workspace: "/w", startedAt: "2026-11-26T00:00:0\(i).000Z"))
            try await store.finishRun("r\(i)", status: i == 4 ? "blocked" : "success")
            try await store.save(
                jobs: [
                    JobRow(runID: "r\(i)", id: "build", status: i % 2 == 0 ? "cached" : "success", record: "{}", finishedAt: nil, durationMs: 1500),
                    JobRow(runID: "r\(i)", id: "test", status: "failed", record: "{}", finishedAt: nil, durationMs: 250),
                ], attempts: [])
            try await store.saveDeployment(
                DeploymentRow(
                    release: "rel-\(i)", environment: i < 3 ? "prod" : "staging", runID: "r\(i)", job: "deploy", version: "v\(i)", commitID: "c\(i % 2)",
                    artifacts: "{}", files: "[]", status: i == 2 ? "failed" : "success", approvedBy: "", actor: "ada", rollbackOf: i == 1 ? "rel-0" : nil,
                    startedAt: "2026-11-26T00:00:0\(i).000Z", policy: "refs/heads/main@c0 sha256:p"))
            try await store.audit(kind: "gate", actor: "ada", environment: i < 3 ? "prod" : "staging", runID: "r\(i)", detail: ["n": "\(i)"])
        }
        try await store.saveGate(
            GateRow(
                runID: "r4", job: "deploy", environment: "prod", commitID: "c0", pipelineDigest: "d", artifacts: "{}", status: "blocked", decision: "{}",
                requestedBy: "ada", requestedAt: "2026-11-26T00:00:04.000Z", updatedAt: "2026-11-26T00:00:04.000Z"))

        let v215 = try await store.runs(limit: 2, offset: 0).map(\.id)
        XCTAssertEqual(v215, ["r4", "r3"])
        let v216 = try await store.runs(limit: 2, offset: 3).map(\.id)
        XCTAssertEqual(v216, ["r1", "r0"])
        let v217 = try await store.deployments(environment: "prod", status: "success", commitID: nil, limit: 10).map(\.release)
        XCTAssertEqual(v217, ["rel-1", "rel-0"])
        let v218 = try await store.deployments(environment: nil, status: nil, commitID: "c1", limit: 10).map(\.release)
        XCTAssertEqual(v218, ["rel-3", "rel-1"])
        let v219 = try await store.lastGood(environment: "prod")?.release
        XCTAssertEqual(v219, "rel-1")
        let v220 = try await store.lastGood(environment: "prod", excluding: "rel-1")?.release
        XCTAssertEqual(v220, "rel-0")
        // A newer good release made outside the trusted policy is history only: never the last good one.
        try await store.saveDeployment(
            DeploymentRow(
                release: "rel-untrusted", environment: "prod", runID: "r9", job: "deploy", version: "v9", commitID: "c9", artifacts: "{}", files: "[]",
                status: "success", approvedBy: "", actor: "mallory", startedAt: "2026-11-26T00:00:09.000Z"))
        let v226 = try await store.lastGood(environment: "prod")?.release
        XCTAssertEqual(v226, "rel-1")
        let v227 = try await store.deployment("rel-untrusted")!.countsAsTarget
        XCTAssertFalse(v227)
        let v228 = try await store.latestAudit(limit: 2, environment: nil).map(\.seq)
        XCTAssertEqual(v228, [5, 4])
        let v229 = try await store.latestAudit(limit: 10, environment: "staging").map(\.seq)
        XCTAssertEqual(v229, [5, 4])
        let v230 = try await store.auditEntries(environment: nil, afterSeq: 3).map(\.seq)
        XCTAssertEqual(v230, [4, 5])

        let m = try await store.metrics()
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

    override func makeStore() async throws -> any StateStore { try SQLiteStateStore(stateDirectory: dir) }

    override func tamper(_ store: any StateStore, _ sql: String) async throws {
        try (store as! SQLiteStateStore).write { db in try db.execute(sql: sql) }
    }

    override func kill(_ store: inout (any StateStore)?) async throws {
        try await tamper(store!, "UPDATE locks SET pid = 2147483646")
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

    override func setUp() async throws {
        guard let url = ProcessInfo.processInfo.environment["SHIPGATE_TEST_POSTGRES_URL"], !url.isEmpty else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_POSTGRES"] == "1" {
                XCTFail("SHIPGATE_TEST_POSTGRES_URL is not set (scripts/with-postgres.sh starts a server)")
            }
            throw XCTSkip("no PostgreSQL server: set SHIPGATE_TEST_POSTGRES_URL, or run through scripts/with-postgres.sh")
        }
        adminURL = url
        database = "shipgate_test_" + UUID().uuidString.prefix(8).lowercased()
        try await PostgresStateStore.administer(url, "CREATE DATABASE \(database)")
    }

    override func tearDown() async throws {
        guard !database.isEmpty else { return }
        stores = []
        try await PostgresStateStore.administer(adminURL, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
    }

    var url: String {
        var c = URLComponents(string: adminURL)!
        c.path = "/" + database
        return c.string!
    }

    override func makeStore() async throws -> any StateStore {
        let store = try await PostgresStateStore(url: url)
        stores.append(store)
        return store
    }

    override func tamper(_ store: any StateStore, _ sql: String) async throws {
        try await PostgresStateStore.administer(url, sql)
    }

    override func kill(_ store: inout (any StateStore)?) async throws {
        // A runner of another host that dies: its lock's lease is simply not renewed (here: it ran out).
        try await tamper(store!, "UPDATE locks SET \"leaseUntil\" = now() - interval '1 second', \"host\" = 'gone.example'")
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

    /// The server ends every backend of the store (an administrator, a failover): the next
    /// calls reconnect and succeed, each once: the audit chain has no gap and no duplicate.
    func testTerminatedBackendsAreReplacedAndNothingIsWrittenTwice() async throws {
        let store = try await makeStore()
        for i in 1...3 { try await store.audit(kind: "gate", actor: "dev", detail: ["n": "\(i)"]) }
        for round in 1...3 {
            let ended = try await terminateBackends()
            XCTAssertGreaterThan(ended, 0, "round \(round): the store had a connection to end")
            try await store.audit(kind: "deploy", actor: "dev", detail: ["round": "\(round)"])
            let runs = try await store.runs(limit: 5)
            XCTAssertEqual(runs, [])
        }
        let verified = try await store.verifyAudit()
        XCTAssertEqual(verified.problems, [])
        XCTAssertEqual(verified.entries, 6, "three entries, then one per round")
    }

    /// A run of another host whose runner died: once its lease runs out it reads `interrupted`,
    /// `markInterrupted` reports it, and another runner may take it over (resume). Before, it may not.
    func testARunWhoseLeaseRanOutIsInterruptedAndCanBeTakenOver() async throws {
        let store = try await makeStore()
        var run = RunRow(
            id: "elsewhere", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "d", status: "running", actor: "dev", commitID: nil, branch: nil,
            version: nil, workspace: "/w", startedAt: "2026-11-26T00:00:00.000Z")
        run.host = "runner-7.example"
        run.pid = 4242
        try await store.beginRun(run)
        var mine = run
        mine.host = ProcessLiveness.host
        mine.pid = Int64(getpid())
        let other = try await makeStore()
        await XCTAssertThrowsErrorAsync(try await other.beginRun(mine)) { XCTAssertTrue("\($0)".contains("already running"), "\($0)") }
        let before = try await other.run("elsewhere")?.status
        XCTAssertEqual(before, "running", "its lease is live")

        try await tamper(store, "UPDATE runs SET \"leaseUntil\" = now() - interval '1 second' WHERE id = 'elsewhere'")
        let after = try await other.run("elsewhere")?.status
        XCTAssertEqual(after, "interrupted", "read as interrupted once the lease ran out")
        let marked = try await other.markInterrupted()
        XCTAssertEqual(marked, ["elsewhere"])
        try await other.beginRun(mine)
        let taken = try await other.run("elsewhere")
        XCTAssertEqual(taken?.status, "running")
        XCTAssertEqual(taken?.host, ProcessLiveness.host)
    }

    /// The heartbeat extends the leases of what this handle holds, and only those.
    func testTheHeartbeatRenewsLeasesOfWhatThisHandleHolds() async throws {
        let store = try await PostgresStateStore(url: url, environment: ["SHIPGATE_PG_LEASE": "600"])
        stores.append(store)
        let run = RunRow(
            id: "held", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "d", status: "running", actor: "dev", commitID: nil, branch: nil,
            version: nil, workspace: "/w", startedAt: "2026-11-26T00:00:00.000Z")
        try await store.beginRun(run)
        let lock = LockRow(name: "environment:prod#1", runID: "held", job: "deploy", actor: "dev", acquiredAt: "t")
        let got = try await store.tryLock([lock.name], holder: lock)
        XCTAssertEqual(got, .acquired(stale: nil))
        try await tamper(store, "UPDATE runs SET \"leaseUntil\" = now() + interval '1 second'")
        try await tamper(store, "UPDATE locks SET \"leaseUntil\" = now() + interval '1 second'")
        await store.renewLeases()
        let left = try await leaseSeconds("SELECT extract(epoch FROM \"leaseUntil\" - now())::int::text FROM runs WHERE id = 'held'")
        XCTAssertGreaterThan(left, 500)
        let lockLeft = try await leaseSeconds("SELECT extract(epoch FROM \"leaseUntil\" - now())::int::text FROM locks")
        XCTAssertGreaterThan(lockLeft, 500)
        try await store.unlock([lock.name], runID: "held", job: "deploy")
        try await store.finishRun("held", status: "success")
        let cleared = try await leaseSeconds("SELECT coalesce(extract(epoch FROM \"leaseUntil\" - now())::int, -1)::text FROM runs WHERE id = 'held'")
        XCTAssertEqual(cleared, -1, "a finished run holds no lease")
    }

    /// A holder whose lock or run went to another runner (its lease ran out during an outage)
    /// hears of it at its next renewal, so it stops instead of deploying beside the new holder.
    func testAHolderIsToldWhenItsLeasesWereTakenOver() async throws {
        let store = try await PostgresStateStore(url: url, environment: ["SHIPGATE_PG_LEASE": "600"])
        stores.append(store)
        let heard = Heard()
        store.onLeaseLost { heard.add($0) }
        let run = RunRow(
            id: "mine", pipeline: "p", pipelineFile: "p.yml", pipelineDigest: "d", status: "running", actor: "dev", commitID: nil, branch: nil,
            version: nil, workspace: "/w", startedAt: "2026-11-26T00:00:00.000Z")
        try await store.beginRun(run)
        let lock = LockRow(name: "environment:prod#1", runID: "mine", job: "deploy", actor: "dev", acquiredAt: "t")
        let got = try await store.tryLock([lock.name], holder: lock)
        XCTAssertEqual(got, .acquired(stale: nil))
        await store.renewLeases()
        XCTAssertEqual(heard.all, [], "nothing lost while it holds both")

        try await tamper(store, "UPDATE locks SET \"runID\" = 'theirs', host = 'runner-7.example'")
        try await tamper(store, "UPDATE runs SET status = 'interrupted'")
        await store.renewLeases()
        XCTAssertEqual(
            heard.all.sorted(), ["run mine was taken over or ended by another runner", "the lock environment:prod#1 of run mine was taken by another runner"])
    }

    final class Heard: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ s: String) { lock.withLock { items.append(s) } }
        var all: [String] { lock.withLock { items } }
    }

    /// Ends every backend connected to this test's database; returns how many.
    func terminateBackends() async throws -> Int {
        let ended = try await PostgresStateStore.administer(
            adminURL, "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity WHERE datname = '\(database)' AND pid <> pg_backend_pid()")
        return Int(ended.first.flatMap { $0 } ?? "0") ?? 0
    }

    func leaseSeconds(_ sql: String) async throws -> Int {
        Int(try await PostgresStateStore.administer(url, sql).first.flatMap { $0 } ?? "") ?? -99
    }

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
