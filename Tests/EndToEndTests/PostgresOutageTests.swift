import Foundation
import XCTest

/// A PostgreSQL cluster of the test's own (Debian's postgresql, on 127.0.0.1, a throwaway data
/// directory), so a test can restart it, stop it and end its backends under a running shipgate.
final class OwnPostgres {
    let dir: String
    let port: Int
    let bin: String
    /// `runuser -u postgres --` when running as root (PostgreSQL refuses to run as root).
    let runAs: String

    init() async throws {
        let found = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.sorted {
            $0.compare($1, options: .numeric) == .orderedAscending
        }.last
        guard let version = found, FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/initdb") else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_POSTGRES"] == "1" { XCTFail("PostgreSQL is not installed (Debian: postgresql)") }
            throw XCTSkip("PostgreSQL is not installed")
        }
        bin = "/usr/lib/postgresql/\(version)/bin"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-own-pg-\(UUID().uuidString.prefix(8))").path
        port = try ConsoleEndToEndTests.Server.freePort()
        runAs = getuid() == 0 ? "runuser -u postgres --" : ""
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if getuid() == 0 { _ = try await CLI.shell("chown postgres '\(dir)'", in: "/") }
        _ = try await CLI.shell("\(runAs) \(bin)/initdb -D '\(dir)/data' -U postgres -A trust --no-sync > '\(dir)/initdb.log' 2>&1", in: "/")
        try await start()
    }

    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    func start() async throws {
        _ = try await CLI.shell(
            "\(runAs) \(bin)/pg_ctl -D '\(dir)/data' -l '\(dir)/server.log' -w -o \"-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=off\" start > /dev/null",
            in: "/")
    }

    /// `pg_ctl restart` (fast: every session is ended, as in a failover), waiting until it accepts connections.
    func restart() async throws {
        _ = try await CLI.shell(
            "\(runAs) \(bin)/pg_ctl -D '\(dir)/data' -l '\(dir)/server.log' -w -m fast -o \"-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=off\" restart > /dev/null",
            in: "/")
    }

    func stop() async throws {
        _ = try await CLI.shell("\(runAs) \(bin)/pg_ctl -D '\(dir)/data' -m immediate stop > /dev/null 2>&1 || true", in: "/")
    }

    /// One statement through psql; its output, trimmed.
    func sql(_ statement: String) async throws -> String {
        try await CLI.shell("psql -X -q -At -h 127.0.0.1 -p \(port) -U postgres -d postgres -c \"\(statement)\"", in: "/")
    }

    /// Ends every backend of shipgate (its connections say `application_name=shipgate`); how many.
    func terminateShipgate() async throws -> Int {
        Int(try await sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'shipgate'")) ?? 0
    }

    deinit {
        let dir = self.dir, bin = self.bin, runAs = self.runAs
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "\(runAs) \(bin)/pg_ctl -D '\(dir)/data' -m immediate stop > /dev/null 2>&1; rm -rf '\(dir)'"]
        try? p.run()
        p.waitUntilExit()
    }
}

/// shipgate against a PostgreSQL that restarts, ends its backends, or goes away: a running
/// `shipgate serve` and a run blocked with `--wait` carry on without a restart of their own,
/// nothing is lost, the audit chain verifies, and SIGTERM always stops `serve`.
final class PostgresOutageTests: XCTestCase {
    func testServeAnswersAgainAfterARestartAndEndedBackendsAndSIGTERMAlwaysStopsIt() async throws {
        let pg = try await OwnPostgres()
        let repo = try await GateRepo(pipeline: ConsoleEndToEndTests.pipeline, approvers: ["alice", "bob", "carol"])
        let server = try ConsoleEndToEndTests.Server(repo: repo, arguments: ["--state", pg.url, "--pipeline", "pipelines/deploy.yml"])
        defer { server.stop() }
        try await server.waitUntilUp()
        let metrics = "curl -fs -m 10 \(server.url)/metrics"
        let first = try await CLI.shell(metrics, in: "/")
        XCTAssertTrue(first.contains("shipgate"), first)

        try await pg.restart()
        // The first request after the restart may meet a connection the server closed: it is
        // retried on a new one, so it answers (within the operation timeout, in practice at once).
        let again = try await CLI.shell(metrics, in: "/")
        XCTAssertTrue(again.contains("shipgate"), "answers after the restart: \(again)")

        let ended = try await pg.terminateShipgate()
        XCTAssertGreaterThan(ended, 0, "the console had connections to end")
        let afterEnded = try await CLI.shell(metrics, in: "/")
        XCTAssertTrue(afterEnded.contains("shipgate"), afterEnded)

        // The database goes away for good, a request waits for it, and SIGTERM comes.
        try await pg.stop()
        let waiting = Process()
        waiting.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        waiting.arguments = ["-s", "-o", "/dev/null", "-m", "120", server.url + "/metrics"]
        try waiting.run()
        defer { if waiting.isRunning { waiting.terminate() } }
        let connected = await poll { Self.established(port: server.port) > 0 || !waiting.isRunning }
        XCTAssertTrue(connected && waiting.isRunning, "the request waits for the database (curl exit \(waiting.isRunning ? -1 : waiting.terminationStatus))")
        let began = Date()
        server.process.terminate()
        let exited = await poll(30) { !server.process.isRunning }
        XCTAssertTrue(exited, "serve stopped on SIGTERM")
        XCTAssertLessThan(Date().timeIntervalSince(began), 10, "within seconds, not after the request's timeout")
    }

    func testARunWaitingOnAGateCarriesOnThroughARestartAndTheAuditChainVerifies() async throws {
        let pg = try await OwnPostgres()
        let repo = try await GateRepo(pipeline: ConsoleEndToEndTests.pipeline, approvers: ["alice", "bob", "carol"])
        let log = repo.path + "/run.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: CLI.binary)
        run.arguments = ["run", "pipelines/deploy.yml", "--output", "plain", "--state", pg.url, "--wait", "5m", "--poll-interval", "200ms"]
        run.currentDirectoryURL = URL(fileURLWithPath: repo.path)
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        env["SHIPGATE_ACTOR"] = "carol"
        env["SHIPGATE_STATE_DIR"] = nil
        env["LIVE_ROOT"] = repo.path
        run.environment = env
        run.standardOutput = FileHandle(forWritingAtPath: log)
        run.standardError = FileHandle(forWritingAtPath: log)
        try run.run()
        defer { if run.isRunning { kill(run.processIdentifier, SIGKILL) } }
        let output = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        let blocked = await poll { output().contains("waiting") || output().contains("blocked") }
        XCTAssertTrue(blocked, output())
        let id = try XCTUnwrap(GateRepo.runID(output()), output())

        try await pg.restart()
        _ = try await pg.terminateShipgate()
        for who in ["alice", "bob"] { try await repo.ok(["approve", id, "--env", "prod", "--key", repo.key(who), "--state", pg.url]) }
        let finished = await poll(120) { !run.isRunning }
        XCTAssertTrue(finished, output())
        guard finished else { return }
        XCTAssertEqual(run.terminationStatus, 0, output())
        XCTAssertTrue(repo.read("live/prod.txt").contains("good"), "deployed after the restart: \(output())")

        let verify = try await repo.shipgate(["audit", "verify", "--state", pg.url])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let history = try await repo.shipgate(["history", "--env", "prod", "--state", pg.url])
        XCTAssertTrue(history.stdout.contains("success"), history.stdout)
    }

    /// A run whose runner died on another host: while its lease runs it is `running` and no one
    /// may resume it; once the lease ran out it reads `interrupted` and another runner (another
    /// checkout of the repository) resumes and deploys it.
    func testAnotherRunnerResumesARunWhoseLeaseRanOut() async throws {
        let pg = try await OwnPostgres()
        let repo = try await GateRepo(pipeline: ConsoleEndToEndTests.pipeline, approvers: ["alice", "bob", "carol"])
        let blocked = try await repo.shipgate(["run", "pipelines/deploy.yml", "--state", pg.url])
        XCTAssertEqual(blocked.status, 3, blocked.stdout + blocked.stderr)
        let id = try XCTUnwrap(GateRepo.runID(blocked.stdout))
        for who in ["alice", "bob"] { try await repo.ok(["approve", id, "--env", "prod", "--key", repo.key(who), "--state", pg.url]) }
        // As if runner-7 had resumed it and then died (a kill -9, a lost machine).
        _ = try await pg.sql(
            "UPDATE runs SET status = 'running', host = 'runner-7.example', pid = 4242, \\\"leaseUntil\\\" = now() + interval '1 hour' WHERE id = '\(id)'")
        let other = repo.path + "-runner-b"
        _ = try await CLI.shell("git clone -q '\(repo.path)' '\(other)'", in: "/")
        defer { try? FileManager.default.removeItem(atPath: other) }
        let refused = try await CLI.run(["resume", id, "--state", pg.url], in: other, environment: ["LIVE_ROOT": other])
        XCTAssertEqual(refused.status, 2, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("still running (pid 4242 on runner-7.example)"), refused.stderr)

        _ = try await pg.sql("UPDATE runs SET \\\"leaseUntil\\\" = now() - interval '1 second' WHERE id = '\(id)'")
        let status = try await CLI.run(["status", id, "--state", pg.url], in: other)
        XCTAssertTrue(status.stdout.contains("interrupted"), status.stdout + status.stderr)
        // Its build's artifacts are on the dead runner: built again here, so the approvals of the
        // old artifacts do not count, and the deploy waits for approvals of these.
        let rebuilt = try await CLI.run(["resume", id, "--state", pg.url, "--output", "plain"], in: other, environment: ["LIVE_ROOT": other])
        XCTAssertEqual(rebuilt.status, 3, rebuilt.stdout + rebuilt.stderr)
        XCTAssertTrue(rebuilt.stderr.contains("are on the runner that began run \(id) (runner-7.example)"), rebuilt.stderr)
        let keys = repo.path + "-keys"
        for who in ["alice", "bob"] {
            let approved = try await CLI.run(["approve", id, "--env", "prod", "--key", keys + "/\(who).key", "--state", pg.url], in: other)
            XCTAssertEqual(approved.status, 0, approved.stdout + approved.stderr)
        }
        let resumed = try await CLI.run(["resume", id, "--state", pg.url, "--output", "plain"], in: other, environment: ["LIVE_ROOT": other])
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: other + "/live/prod.txt"), "deployed from the other checkout: \(resumed.stdout)")
        let verify = try await CLI.run(["audit", "verify", "--state", pg.url], in: other)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    /// Established TCP connections to `port` on this host (from /proc/net/tcp).
    static func established(port: Int) -> Int {
        // Read to the end: the file is made as it is read, and is longer than one page on a busy host.
        let data = FileHandle(forReadingAtPath: "/proc/net/tcp").map { h in
            defer { try? h.close() }
            return h.readDataToEndOfFile()
        }
        let text = data.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let suffix = String(format: ":%04X", port)
        return text.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[1].hasSuffix(suffix) && fields[3] == "01"
        }.count
    }

    func poll(_ seconds: Double = 60, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}
