import Foundation
import ShipgateEngine
import ShipgateGit
import ShipgateProcess
import ShipgateRelease
import ShipgateState
import XCTest

/// `ManualRollback` in-process: real repository, real SQLite, real processes for its steps.
final class ManualRollbackLibraryTests: XCTestCase {
    static let pipeline = """
        name: app
        environments:
          prod:
            approvals: { required: 1, from: [alice] }
            concurrency: 1
            secrets:
              - PROD_TOKEN
              - FETCHED: { command: 'printf "from-manager\\n"' }
        jobs:
          deploy-prod:
            environment: prod
            steps: [{ run: "true" }]
            rollback:
              - run: 'mkdir -p "$LIVE_ROOT/live" && echo "$SHIPGATE_ROLLBACK_RELEASE $PROD_TOKEN $FETCHED ${PGPASSWORD:-none}" > "$LIVE_ROOT/live/rollback.txt"'

        """

    func rollback(_ repo: ReleaseRepo, to: String? = nil, approver: String? = "alice") throws -> ManualRollback {
        let policy = try repo.policy(running: "pipelines/deploy.yml")
        return ManualRollback(
            .init(environment: "prod", to: to, actor: "alice", approver: approver, reason: "error rate", via: "test"),
            setting: .init(
                store: repo.store, policy: policy, context: RunContext.resolve(workspace: repo.root, environment: [:], actor: "alice"),
                workspace: repo.root, stateDirectory: repo.root + "/.shipgate", files: nil, remote: nil,
                secretValues: ["PROD_TOKEN": "tok", "PGPASSWORD": "pw"], stepEnvironment: ["PATH": "/usr/bin:/bin", "LIVE_ROOT": repo.root],
                runner: HostProcessRunner()))
    }

    func testThePreviousTrustedGoodReleaseUnlikeTheLiveOneIsTheTarget() async throws {
        let repo = try ReleaseRepo(files: ["pipelines/deploy.yml": Self.pipeline])
        try await repo.release("r1", commit: "c1", minutesAgo: 50)
        try await repo.release("r2", commit: "c2", policy: nil, minutesAgo: 40)  // made outside the trusted policy
        try await repo.release("r3", commit: "c3", status: .failed, minutesAgo: 30)
        try await repo.release("r4", commit: "c4", minutesAgo: 20)
        try await repo.release("r5", commit: "c4", minutesAgo: 10)  // same commit and artifacts as r4: no change
        let prepared = try await rollback(repo).prepare()
        XCTAssertEqual(prepared.current?.release, "r5")
        XCTAssertEqual(prepared.target.release, "r1", "r4 changes nothing, r3 failed, r2 is not trusted")
        XCTAssertEqual(prepared.job.steps.count, 1)
        XCTAssertTrue(prepared.source.hasSuffix(":pipelines/deploy.yml"), prepared.source)

        await XCTAssertThrowsErrorAsync(try await rollback(repo, to: "r2").prepare()) {
            XCTAssertTrue("\($0)".contains("not made under the trusted policy"), "\($0)")
        }
        await XCTAssertThrowsErrorAsync(try await rollback(repo, to: "r3").prepare()) { XCTAssertTrue("\($0)".contains("is failed"), "\($0)") }
        await XCTAssertThrowsErrorAsync(try await rollback(repo, to: "r5").prepare()) { XCTAssertTrue("\($0)".contains("already the current"), "\($0)") }
        await XCTAssertThrowsErrorAsync(try await rollback(repo, approver: "bob").prepare()) {
            XCTAssertTrue("\($0)".contains("may not approve prod"), "\($0)")
        }
    }

    func testAfterAFailedAutomaticRollbackTheFailedReleaseIsWhatRollsBack() async throws {
        let repo = try ReleaseRepo(files: ["pipelines/deploy.yml": Self.pipeline])
        try await repo.release("r1", commit: "c1", minutesAgo: 30)
        try await repo.release("r2", commit: "c2", status: .rollbackFailed, minutesAgo: 20)
        let prepared = try await rollback(repo).prepare()
        XCTAssertEqual(prepared.current?.release, "r2", "r2 went out and could not be taken back")
        XCTAssertEqual(prepared.target.release, "r1")
    }

    func testRunTakesTheLockAuditsFirstRunsTheTrustedStepsWithTheEnvironmentsSecretsAndRecordsTheOutcome() async throws {
        let repo = try ReleaseRepo(files: ["pipelines/deploy.yml": Self.pipeline])
        try await repo.release("r1", commit: "c1", minutesAgo: 30)
        try await repo.release("r2", commit: "c2", minutesAgo: 20)
        let rollback = try rollback(repo)
        let prepared = try await rollback.prepare()
        let events = EventLog()
        let outcome = await rollback.run(prepared, observer: events, cancellation: CancellationToken())
        XCTAssertTrue(outcome.succeeded, outcome.message + "\n" + events.text)
        let written = try String(contentsOfFile: repo.root + "/live/rollback.txt", encoding: .utf8)
        XCTAssertEqual(written, "r1 tok from-manager none\n", "the target, both secrets, and never a store credential")
        XCTAssertFalse(events.text.contains("from-manager") || events.text.contains(" tok "), "masked: \(events.text)")

        let rows = try await repo.store.deployments(environment: "prod", limit: 10)
        XCTAssertEqual(rows.first?.releaseStatus, .success)
        XCTAssertEqual(rows.first?.rollbackOf, "r1")
        XCTAssertNotNil(rows.first?.policy, "a rollback under the trusted policy is itself trusted")
        XCTAssertEqual(rows.first { $0.release == "r2" }?.releaseStatus, .rolledBack)
        let kinds = try await repo.store.auditEntries(environment: "prod").map(\.kind)
        XCTAssertEqual(kinds, ["rollback-started", "rollback"])
        let v88 = try await repo.store.locks().isEmpty
        XCTAssertTrue(v88, "the lock was released")
    }

    func testNothingRunsWhenTheRequestCannotBeAudited() async throws {
        let repo = try ReleaseRepo(files: ["pipelines/deploy.yml": Self.pipeline])
        try await repo.release("r1", commit: "c1", minutesAgo: 30)
        try await repo.release("r2", commit: "c2", minutesAgo: 20)
        try repo.sh("sqlite3 .shipgate/state.db \"CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'read-only'); END\"")
        let rollback = try rollback(repo)
        let outcome = await rollback.run(try rollback.prepare(), observer: EventLog(), cancellation: CancellationToken())
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.message.contains("nothing rolls back without an audit trail"), outcome.message)
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo.root + "/live/rollback.txt"))
        let v101 = try await repo.store.deployments(environment: "prod", limit: 10).count
        XCTAssertEqual(v101, 2, "no release was recorded")
    }

    func testASecondRollbackWaitsForNoOneTheLockIsHeld() async throws {
        let repo = try ReleaseRepo(files: ["pipelines/deploy.yml": Self.pipeline])
        try await repo.release("r1", commit: "c1", minutesAgo: 30)
        try await repo.release("r2", commit: "c2", minutesAgo: 20)
        let holder = LockRow(name: EnvironmentLock.names(environment: "prod", slots: 1)[0], runID: "other", job: "deploy-prod", actor: "bob", acquiredAt: "now")
        _ = try await repo.store.tryLock(EnvironmentLock.names(environment: "prod", slots: 1), holder: holder)
        let rollback = try rollback(repo)
        let outcome = await rollback.run(try rollback.prepare(), observer: EventLog(), cancellation: CancellationToken())
        XCTAssertFalse(outcome.succeeded)
        XCTAssertTrue(outcome.message.contains("is being deployed by run other"), outcome.message)
    }
}

/// Collects what a run reports, as text.
final class EventLog: RunObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func handle(_ event: RunEvent) { lock.withLock { lines.append("\(event)") } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}
