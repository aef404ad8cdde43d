import Foundation
import ShipgatePostgres
import XCTest

/// Many runners, one PostgreSQL state store: each "runner" is a separate clone of the
/// repository (its own workspace and cache) running the built binary with `--state URL`.
/// Skipped without `SHIPGATE_TEST_POSTGRES_URL` (scripts/with-postgres.sh provides one).
final class SharedStateTests: XCTestCase {
    var adminURL = ""
    var database = ""

    override func setUp() async throws {
        guard let url = ProcessInfo.processInfo.environment["SHIPGATE_TEST_POSTGRES_URL"], !url.isEmpty else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_POSTGRES"] == "1" { XCTFail("SHIPGATE_TEST_POSTGRES_URL is not set") }
            throw XCTSkip("no PostgreSQL server: run through scripts/with-postgres.sh")
        }
        adminURL = url
        database = "shipgate_e2e_" + UUID().uuidString.prefix(8).lowercased()
        try await PostgresStateStore.administer(url, "CREATE DATABASE \(database)")
    }

    override func tearDown() async throws {
        if !database.isEmpty { try await PostgresStateStore.administer(adminURL, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
    }

    var state: String {
        var c = URLComponents(string: adminURL)!
        c.path = "/" + database
        return c.string!
    }

    /// A second runner: a clone of `repo` in a directory of its own.
    func runner(_ repo: GateRepo, _ n: Int) async throws -> String {
        let dir = repo.path + "-runner\(n)"
        _ = try await CLI.shell("git clone -q '\(repo.path)' '\(dir)'", in: "/")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testEightRunnersRaceToDeployOneEnvironment() async throws {
        let log = repoLog()
        let repo = try await GateRepo(
            pipeline: """
                name: race
                environments:
                  staging: { concurrency: 1 }
                jobs:
                  deploy:
                    environment: staging
                    steps: [{ run: 'echo "start $SHIPGATE_RELEASE" >> "$LOCK_LOG"; sleep 0.3; echo "end $SHIPGATE_RELEASE" >> "$LOCK_LOG"' }]

                """)
        var dirs: [String] = []
        for n in 0..<8 { dirs.append(try await runner(repo, n)) }
        let env = ["LOCK_LOG": log]
        let results = try await withThrowingTaskGroup(of: CLI.Output.self) { group in
            for dir in dirs {
                let state = self.state
                group.addTask { try await CLI.run(["run", "pipelines/deploy.yml", "--output", "plain", "--state", state], in: dir, environment: env) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for r in results { XCTAssertEqual(r.status, 0, r.stdout + r.stderr) }
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 16, lines.joined(separator: "\n"))
        for pair in stride(from: 0, to: lines.count - 1, by: 2) {
            XCTAssertEqual(
                lines[pair].replacingOccurrences(of: "start ", with: ""), lines[pair + 1].replacingOccurrences(of: "end ", with: ""),
                "two deploys overlapped:\n\(lines.joined(separator: "\n"))")
        }
        let history = try await CLI.run(["history", "--env", "staging", "--json", "--state", state], in: dirs[0])
        let releases = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]] ?? []
        XCTAssertEqual(releases.count, 8)
        XCTAssertTrue(releases.allSatisfy { $0["status"] as? String == "success" })
        let verified = try await CLI.run(["audit", "verify", "--state", state], in: dirs[0])
        XCTAssertEqual(verified.status, 0, verified.stderr)
    }

    func testApprovalsOnOneRunnerCountOnAnotherAndADeadRunnerReleasesItsLock() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        let a = try await runner(repo, 1)
        let b = try await runner(repo, 2)
        let token = ["PROD_TOKEN": "t0ken"]
        let blocked = try await CLI.run(
            ["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain", "--state", state], in: a, environment: token)
        XCTAssertEqual(blocked.status, 3, blocked.stdout)
        let run = try XCTUnwrap(GateRepo.runID(blocked.stdout))
        // Runner B (another machine) lists and approves it.
        let pending = try await CLI.run(["approvals", "--pending", "--state", state], in: b)
        XCTAssertTrue(pending.stdout.contains(run), pending.stdout)
        for who in ["alice", "bob"] {
            let out = try await CLI.run(["approve", run, "--env", "prod", "--key", repo.key(who), "--state", state], in: b)
            XCTAssertEqual(out.status, 0, out.stderr)
        }
        let resumed = try await CLI.run(["resume", run, "--output", "plain", "--state", state], in: a, environment: token)
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("approved by alice, bob"), resumed.stdout)

        // A runner killed while deploying: its session ends, so its lock is free for the next.
        try """
        name: crash
        environments:
          staging: { concurrency: 1 }
        jobs:
          deploy:
            environment: staging
            steps: [{ run: 'if [ -f ../resumed ]; then echo fine; else echo $$ > step.pid; sleep 60; fi' }]

        """.write(toFile: a + "/crash.yml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: a + "/crash.yml", toPath: b + "/crash.yml")
        let pid = try await CLI.shell(
            "SHIPGATE_ACTOR=tester NO_COLOR=1 '\(CLI.binary)' run crash.yml --output plain --state '\(state)' > out.txt 2>&1 & echo $!", in: a)
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: a + "/step.pid") { try await Task.sleep(for: .milliseconds(50)) }
        _ = try await CLI.shell("kill -9 \(pid); sleep 0.3; kill -9 -- -$(cat step.pid) 2>/dev/null || true", in: a)
        try "".write(toFile: repo.path + "-resumed", atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(atPath: repo.path + "-resumed", toPath: (b as NSString).deletingLastPathComponent + "/resumed")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: (b as NSString).deletingLastPathComponent + "/resumed") }
        let next = try await CLI.run(["run", "crash.yml", "--output", "plain", "--state", state, "--lock-timeout", "20s"], in: b)
        XCTAssertEqual(next.status, 0, next.stdout + next.stderr)
        XCTAssertTrue(next.stdout.contains("released the staging deploy lock of run"), next.stdout)
    }

    func testApprovalsRacingAWaitingGateOnAnotherRunner() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        let a = try await runner(repo, 1)
        let b = try await runner(repo, 2)
        let state = self.state
        async let waiting = CLI.run(
            ["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain", "--wait", "60s", "--poll-interval", "100ms", "--state", state], in: a,
            environment: ["PROD_TOKEN": "t0ken"])
        var run: String?
        for _ in 0..<300 where run == nil {
            try await Task.sleep(for: .milliseconds(100))
            let pending = try await CLI.run(["approvals", "--pending", "--json", "--state", state], in: b)
            run = (try? JSONSerialization.jsonObject(with: Data(pending.stdout.utf8)) as? [[String: Any]])?.first?["run"] as? String
        }
        let id = try XCTUnwrap(run, "the waiting gate was not recorded")
        // Two approvers at the same moment, while the gate polls.
        let (aliceKey, carolKey) = (repo.key("alice"), repo.key("carol"))
        async let alice = CLI.run(["approve", id, "--env", "prod", "--key", aliceKey, "--state", state], in: b)
        async let carol = CLI.run(["approve", id, "--env", "prod", "--key", carolKey, "--state", state], in: b)
        let (ra, rc) = try await (alice, carol)
        XCTAssertEqual(ra.status, 0, ra.stderr)
        XCTAssertEqual(rc.status, 0, rc.stderr)
        let out = try await waiting
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("gate of prod passed"), out.stdout)
        let verified = try await CLI.run(["audit", "verify", "--state", state], in: b)
        XCTAssertEqual(verified.status, 0, verified.stderr)
    }

    func testMigrateFromSQLiteKeepsHistoryAndTheAuditChain() async throws {
        let repo = try await GateRepo(pipeline: DeployGateTests.pipeline)
        for _ in 0..<2 { try await repo.ok(["run", "pipelines/deploy.yml", "--job", "deploy-staging"]) }
        let local = try await repo.shipgate(["history", "--env", "staging", "--json"])
        let migrated = try await repo.shipgate(["state", "migrate", "--from", "sqlite:.shipgate/state.db", "--to", state])
        XCTAssertEqual(migrated.status, 0, migrated.stderr)
        XCTAssertTrue(migrated.stdout.contains("audit chain verified"), migrated.stdout)
        let shared = try await repo.shipgate(["history", "--env", "staging", "--json", "--state", state])
        XCTAssertEqual(shared.stdout, local.stdout)
        try await repo.ok(["audit", "verify", "--state", state])
        let again = try await repo.shipgate(["state", "migrate", "--from", "sqlite:.shipgate/state.db", "--to", state])
        XCTAssertEqual(again.status, 2, "a second migration into a non-empty store is refused")
    }

    func repoLog() -> String {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-race-\(UUID().uuidString).log").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: log) }
        return log
    }
}
