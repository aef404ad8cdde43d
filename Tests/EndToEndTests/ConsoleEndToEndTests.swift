import Foundation
import XCTest

/// The release console end to end: `shipgate serve` as a real server on 127.0.0.1, driven with
/// curl like a browser (cookies, CSRF tokens) and with `approve --server` through the API; the
/// blocked run deploys on `resume`; a rollback started from the API runs `shipgate rollback`.
final class ConsoleEndToEndTests: XCTestCase {
    static let pipeline = """
        name: console
        environments:
          prod:
            approvals: { required: 2, from: [alice, bob, carol], expire: 24h }
            concurrency: 1
        jobs:
          unit:
            steps: [{ run: echo unit ok }]
          build:
            steps: [{ run: 'mkdir -p dist && { cat release.txt; date +%s%N; } > dist/app.txt' }]
            artifacts: { paths: ["dist/**"] }
          deploy-prod:
            needs: [unit, build]
            environment: prod
            steps: [{ run: 'mkdir -p live && cp "$SHIPGATE_ARTIFACTS/dist/app.txt" live/prod.txt' }]
            rollback: [{ run: 'cp "$SHIPGATE_ROLLBACK_ARTIFACTS/dist/app.txt" "$LIVE_ROOT/live/prod.txt"' }]

        """

    /// A console process on a free port; stopped (SIGTERM, then SIGKILL) by `stop()`.
    final class Server {
        let process = Process()
        let port: Int
        let log: String

        init(repo: GateRepo, arguments: [String]) throws {
            port = try Self.freePort()
            log = repo.path + "/serve.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = ["serve", "--port", String(port)] + arguments
            process.currentDirectoryURL = URL(fileURLWithPath: repo.path)
            var env = ProcessInfo.processInfo.environment
            env["NO_COLOR"] = "1"
            env["SHIPGATE_STATE_DIR"] = nil
            // Rollbacks run in a checkout of the trusted commit: where the test's "live" is.
            env["LIVE_ROOT"] = repo.path
            process.environment = env
            process.standardOutput = FileHandle(forWritingAtPath: log)
            process.standardError = FileHandle(forWritingAtPath: log)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var url: String { "http://127.0.0.1:\(port)" }

        func waitUntilUp() async throws {
            for _ in 0..<100 {
                if (try? await CLI.shell("curl -fs \(url)/healthz", in: "/")) == "ok" { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            XCTFail("the console did not start:\n" + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
        }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        static func freePort() throws -> Int {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
            }
            guard ok else { throw CocoaError(.fileWriteUnknown) }
            return Int(UInt16(bigEndian: addr.sin_port))
        }
    }

    func testLogInApproveInTheBrowserAndTheAPIThenResumeDeploysAndRollBack() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline, approvers: ["alice", "bob", "carol"])
        let consoleLine = try await repo.keygen("console-1")
        try (repo.read("pipelines/approvers.yml") + "consoles:\n  " + consoleLine).write(
            toFile: repo.path + "/pipelines/approvers.yml", atomically: true, encoding: .utf8)
        try await repo.commitAll("trust the console")

        // A first release (CLI approvals), so a later rollback has a target.
        let first = try await repo.shipgate(["run", "pipelines/deploy.yml"])
        XCTAssertEqual(first.status, 3, first.stdout + first.stderr)
        let firstRun = try XCTUnwrap(GateRepo.runID(first.stdout))
        for who in ["alice", "bob"] { try await repo.ok(["approve", firstRun, "--env", "prod", "--key", repo.key(who)]) }
        try await repo.ok(["resume", firstRun])
        let firstDeployed = repo.read("live/prod.txt")

        try repo.write("second\n", to: "release.txt")
        try await repo.commitAll("second release")
        let blocked = try await repo.shipgate(["run", "pipelines/deploy.yml"])
        XCTAssertEqual(blocked.status, 3, blocked.stdout + blocked.stderr)
        let run = try XCTUnwrap(GateRepo.runID(blocked.stdout))

        let shipgate = CLI.binary
        try await repo.sh("printf 'alice-password\\n' | \(shipgate) user add alice --password-stdin")
        try await repo.sh("printf 'bob-password-2\\n' | \(shipgate) user add bob --password-stdin")
        let token = try await repo.sh("\(shipgate) user token bob 2>/dev/null")
        XCTAssertTrue(token.hasPrefix("sgt_"), token)
        XCTAssertFalse(repo.read(".shipgate/console/users.json").contains(token))

        let server = try Server(repo: repo, arguments: ["--key", repo.key("console-1"), "--pipeline", "pipelines/deploy.yml"])
        defer { server.stop() }
        try await server.waitUntilUp()
        let jar = repo.path + "/cookies"

        // alice logs in with the form and approves (CSRF token from the page).
        let loginPage = try await repo.sh("curl -fs -c \(jar) \(server.url)/login")
        let loginToken = try XCTUnwrap(Self.csrf(loginPage))
        let wrong = try await repo.sh(
            "curl -s -o /dev/null -w '%{http_code}' -b \(jar) -c \(jar) -d 'csrf=\(loginToken)&user=alice&password=nope' \(server.url)/login")
        XCTAssertEqual(wrong, "401")
        let login = try await repo.sh(
            "curl -s -o /dev/null -w '%{http_code}' -b \(jar) -c \(jar) -d 'csrf=\(loginToken)&user=alice&password=alice-password' \(server.url)/login")
        XCTAssertEqual(login, "303")
        let page = try await repo.sh("curl -fs -b \(jar) \(server.url)/approvals")
        XCTAssertTrue(page.contains("second release"), "the pending deploy shows the commits it ships:\n\(page)")
        XCTAssertTrue(page.contains("release.txt"), "and the changed paths since the live release")
        let csrf = try XCTUnwrap(Self.csrf(page))
        let forged = try await repo.sh(
            "curl -s -o /dev/null -w '%{http_code}' -b \(jar) -d 'run=\(run)&environment=prod&decision=approve' \(server.url)/approvals")
        XCTAssertEqual(forged, "403", "a form without the CSRF token is refused")
        let approved = try await repo.sh(
            "curl -fs -b \(jar) --data-urlencode 'csrf=\(csrf)' --data-urlencode 'run=\(run)' --data-urlencode 'environment=prod' --data-urlencode 'decision=approve' --data-urlencode 'comment=ship it' \(server.url)/approvals"
        )
        XCTAssertTrue(approved.contains("alice approved the prod deploy of run \(run)"), approved)

        // bob approves through the API.
        let noToken = try await repo.shipgate(["approve", run, "--env", "prod", "--server", server.url])
        XCTAssertEqual(noToken.status, 2)
        XCTAssertTrue(noToken.stderr.contains("--server needs an API token"), noToken.stderr)
        let badToken = try await repo.shipgate(["approve", run, "--env", "prod", "--server", server.url], env: ["SHIPGATE_TOKEN": "sgt_x_y"])
        XCTAssertTrue(badToken.stderr.contains("HTTP 401"), badToken.stderr)
        let viaAPI = try await repo.ok(["approve", run, "--env", "prod", "--server", server.url], env: ["SHIPGATE_TOKEN": token])
        XCTAssertTrue(viaAPI.stdout.contains("bob approved the prod deploy of run \(run) (signed by console console-1)"), viaAPI.stdout)

        // The blocked run deploys on resume, approved by both through the console.
        let resumed = try await repo.ok(["resume", run])
        XCTAssertTrue(resumed.stdout.contains("gate of prod passed (approved by alice, bob)"), resumed.stdout)
        XCTAssertTrue(repo.read("live/prod.txt").hasPrefix("second"))
        let audit = try await repo.ok(["audit", "--env", "prod"])
        XCTAssertTrue(audit.stdout.contains("signedBy=console console-1 on behalf of alice"), audit.stdout)

        // Roll back to the first release from the API: reason required, audited.
        let noReason = try await repo.sh(
            "curl -s -w ' %{http_code}' -H 'Authorization: Bearer \(token)' -d '{\"environment\":\"prod\"}' \(server.url)/api/rollbacks")
        XCTAssertTrue(noReason.hasSuffix(" 422") && noReason.contains("needs a reason"), noReason)
        let started = try await repo.sh(
            "curl -s -w ' %{http_code}' -H 'Authorization: Bearer \(token)' -d '{\"environment\":\"prod\",\"reason\":\"error rate up\"}' \(server.url)/api/rollbacks"
        )
        XCTAssertTrue(started.hasSuffix(" 202"), started)
        var history: [[String: Any]] = []
        for _ in 0..<100 {
            history = try await repo.history("prod")
            if history.first?["status"] as? String == "success", history.first?["rollbackOf"] != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(history.first?["status"] as? String, "success", "\(history)")
        XCTAssertEqual(repo.read("live/prod.txt"), firstDeployed, "the first release's artifacts are live again")
        let rollbackAudit = try await repo.ok(["audit", "--env", "prod"])
        XCTAssertTrue(rollbackAudit.stdout.contains("reason=error rate up"), rollbackAudit.stdout)
        XCTAssertTrue(rollbackAudit.stdout.contains("rollback by bob"), rollbackAudit.stdout)

        let metrics = try await repo.sh("curl -fs \(server.url)/metrics")
        XCTAssertTrue(metrics.contains("shipgate_pending_approvals 0"), metrics)
        XCTAssertTrue(metrics.contains("shipgate_rollbacks 1"), metrics)

        // The run page as one file, and (where Chromium is installed) rendered by a browser.
        try await repo.ok(["report", run, "--html", repo.path + "/run.html"])
        let html = repo.read("run.html")
        XCTAssertTrue(html.contains("<svg") && html.contains("unit ok") && !html.contains("<script"), html)
        try await repo.sh("curl -fs -b \(jar) \(server.url)/approvals > approvals.html")
        try await Self.screenshot(repo, pages: ["run.html", "approvals.html"])
    }

    static func csrf(_ html: String) -> String? {
        guard let r = html.range(of: #"name="csrf" value="([0-9a-f]+)""#, options: .regularExpression) else { return nil }
        return String(html[r].dropFirst(#"name="csrf" value=""#.count).dropLast())
    }

    /// Headless Chromium renders each page to a PNG, which must be a real image of some size.
    static func screenshot(_ repo: GateRepo, pages: [String]) async throws {
        let chrome = (try? await repo.sh("command -v chromium || command -v chromium-browser")) ?? ""
        guard !chrome.isEmpty else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_CHROMIUM"] == "1" { XCTFail("chromium is required but not installed") }
            return
        }
        for page in pages {
            let png = repo.path + "/" + page + ".png"
            try await repo.sh(
                "timeout 120 \(chrome) --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1200 --screenshot=\(png) file://\(repo.path)/\(page) >/dev/null 2>&1"
            )
            let data = try Data(contentsOf: URL(fileURLWithPath: png))
            XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "\(page) rendered to a PNG")
            XCTAssertGreaterThan(data.count, 20_000, "\(page): a blank page compresses to a few KB")
        }
    }
}
