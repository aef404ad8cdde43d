import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ShipgateConsole
import ShipgateGate
import ShipgateRelease
import ShipgateState
import XCTest

/// The console in-process (HummingbirdTesting): logins, sessions, CSRF, the approval flow
/// through forms and the API, what the pages show, metrics, and what is refused.
final class ConsoleTests: XCTestCase {
    /// A client that keeps cookies, like a browser.
    final class Browser: @unchecked Sendable {
        let client: any TestClientProtocol
        var cookies: [String: String] = [:]
        init(_ client: any TestClientProtocol) { self.client = client }

        @discardableResult
        func request(_ uri: String, _ method: HTTPRequest.Method = .get, form: [String: String]? = nil, headers: HTTPFields = [:]) async throws
            -> TestResponse
        {
            var headers = headers
            if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
            var body: ByteBuffer?
            if let form {
                headers[.contentType] = "application/x-www-form-urlencoded"
                var allowed = CharacterSet.alphanumerics
                allowed.insert(charactersIn: "-._~")
                body = ByteBuffer(
                    string: form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&"))
            }
            let response = try await client.execute(uri: uri, method: method, headers: headers, body: body)
            for line in response.headers[values: .setCookie] {
                let pair = line.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
                let value = pair.count > 1 ? String(pair[1]) : ""
                cookies[String(pair[0])] = value.isEmpty ? nil : value
            }
            return response
        }

        func csrf(_ page: TestResponse) -> String? {
            let html = String(buffer: page.body)
            guard let r = html.range(of: #"name="csrf" value="([0-9a-f]+)""#, options: .regularExpression) else { return nil }
            return String(html[r].dropFirst(#"name="csrf" value=""#.count).dropLast())
        }

        func logIn(_ user: String, password: String = ConsoleFixture.password) async throws -> TestResponse {
            let page = try await request("/login")
            return try await request("/login", .post, form: ["csrf": csrf(page) ?? "", "user": user, "password": password])
        }
    }

    func app(_ f: ConsoleFixture) -> some ApplicationProtocol { Application(router: ConsoleServer.router(f.console)) }

    func testPagesNeedALoginAndTheAPINeedsAToken() async throws {
        let f = try await ConsoleFixture()
        try await app(f).test(.router) { client in
            for path in ["/environments", "/approvals", "/runs", "/runs/\(f.runID)", "/audit", "/environments/prod/history"] {
                let r = try await client.execute(uri: path, method: .get)
                XCTAssertEqual(r.status, .seeOther, path)
                XCTAssertEqual(r.headers[.location], "/login", path)
            }
            for path in ["/api/environments", "/api/approvals?pending=true", "/api/audit", "/api/runs/\(f.runID)"] {
                let r = try await client.execute(uri: path, method: .get)
                XCTAssertEqual(r.status, .unauthorized, path)
                XCTAssertEqual(r.headers[.wwwAuthenticate], "Bearer realm=\"shipgate\"")
            }
            let post = try await client.execute(
                uri: "/api/approvals", method: .post, headers: [.authorization: "Bearer sgt_0000_wrong"],
                body: ByteBuffer(string: #"{"run":"\#(f.runID)","environment":"prod","decision":"approve"}"#))
            XCTAssertEqual(post.status, .unauthorized)
            let health = try await client.execute(uri: "/healthz", method: .get)
            XCTAssertEqual(health.status, .ok)
        }
        let v78 = try await f.store.approvals(runID: f.runID).count
        XCTAssertEqual(v78, 0)
    }

    func testLoginSetsAStrictHttpOnlySessionCookie() async throws {
        let f = try await ConsoleFixture()
        try await app(f).test(.router) { client in
            let b = Browser(client)
            let r = try await b.logIn("alice")
            XCTAssertEqual(r.status, .seeOther)
            let cookie = r.headers[values: .setCookie].first { $0.hasPrefix("sg_session=") } ?? ""
            XCTAssertTrue(cookie.contains("HttpOnly"), cookie)
            XCTAssertTrue(cookie.contains("SameSite=Strict"), cookie)
            let page = try await b.request("/approvals")
            XCTAssertEqual(page.status, .ok)
            XCTAssertEqual(page.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'"), true)
            let html = String(buffer: page.body)
            XCTAssertFalse(html.contains(ConsoleFixture.password))
            XCTAssertFalse(html.contains(b.cookies["sg_session"]!), "the session id must not appear in a page")
        }
    }

    func testWrongPasswordsAreThrottled() async throws {
        let f = try await ConsoleFixture()
        try await app(f).test(.router) { client in
            let b = Browser(client)
            for _ in 0..<5 {
                let wrong = try await b.logIn("alice", password: "wrong")
                XCTAssertEqual(wrong.status, .unauthorized)
            }
            let limited = try await b.logIn("alice")  // even the right password waits now
            XCTAssertEqual(limited.status, .tooManyRequests)
            XCTAssertNotNil(limited.headers[.retryAfter])
            XCTAssertNil(b.cookies["sg_session"])
            let other = try await b.logIn("bob")
            XCTAssertEqual(other.status, .seeOther, "another user is not locked out")
        }
    }

    func testALoginFormWithoutItsTokenIsRefused() async throws {
        let f = try await ConsoleFixture()
        try await app(f).test(.router) { client in
            let b = Browser(client)
            let r = try await b.request("/login", .post, form: ["user": "alice", "password": ConsoleFixture.password])
            XCTAssertEqual(r.status, .forbidden)
            XCTAssertNil(b.cookies["sg_session"])
        }
    }

    func testApprovingInTheBrowserSignsForTheUserWithTheConsoleKey() async throws {
        let f = try await ConsoleFixture()
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("alice")
            let page = try await b.request("/approvals")
            let html = String(buffer: page.body)
            // What a release manager needs to decide.
            for expected in [
                "v1.2.0", "initial: the demo pipeline", "Carol &lt;carol@example.com&gt;", "sha256:0123456789abcdef", "0 of 2 approvals", "Approve as alice",
            ] {
                XCTAssertTrue(html.contains(expected), "approvals page lacks \(expected)")
            }
            XCTAssertFalse(html.contains("<script>x</script>"), "job ids are escaped")
            XCTAssertTrue(html.contains("&lt;script&gt;x&lt;/script&gt;"))

            // Without the CSRF token: refused, nothing recorded.
            let forged = try await b.request("/approvals", .post, form: ["run": f.runID, "environment": "prod", "decision": "approve"])
            XCTAssertEqual(forged.status, .forbidden)
            let v145 = try await f.store.approvals(runID: f.runID).count
            XCTAssertEqual(v145, 0)

            let done = try await b.request(
                "/approvals", .post,
                form: ["csrf": b.csrf(page)!, "run": f.runID, "environment": "prod", "decision": "approve", "comment": "looks <fine>"])
            XCTAssertEqual(done.status, .ok)
            XCTAssertTrue(String(buffer: done.body).contains("alice approved the prod deploy"), String(buffer: done.body))
            XCTAssertTrue(String(buffer: done.body).contains("looks &lt;fine&gt;"))
        }
        let rows = try await f.store.approvals(runID: f.runID)
        XCTAssertEqual(rows.count, 1)
        let s = try XCTUnwrap(ApprovalRecords.statement(rows[0]))
        XCTAssertEqual(s.approver, "alice")
        XCTAssertEqual(s.signedBy, "console-1")
        XCTAssertEqual(s.artifacts, ["build": "sha256:0123456789abcdef"])
        XCTAssertEqual(s.commit, f.commit)
        XCTAssertTrue(
            f.console.policy()!.keyring.verifyConsole(Data(base64Encoded: s.signature)!, of: Data(s.canonicalText.utf8), by: "console-1"))
        let audit = try await f.store.auditEntries().last!
        XCTAssertEqual(audit.kind, "approve")
        XCTAssertEqual(audit.actor, "alice")
        XCTAssertTrue(audit.detail.contains("console console-1 on behalf of alice"), audit.detail)
    }

    func testSelfApprovalAndUntrustedConsolesAreRefused() async throws {
        let f = try await ConsoleFixture()
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("carol")  // carol started the run
            let page = try await b.request("/approvals")
            XCTAssertTrue(String(buffer: page.body).contains("disabled title=\"you started this run\""))
            let r = try await b.request("/approvals", .post, form: ["csrf": b.csrf(page)!, "run": f.runID, "environment": "prod", "decision": "approve"])
            XCTAssertTrue(String(buffer: r.body).contains("self-approval does not count"), String(buffer: r.body))
        }
        let v179 = try await f.store.approvals(runID: f.runID).count
        XCTAssertEqual(v179, 0)

        let untrusted = try await ConsoleFixture(trustConsole: false)
        do {
            _ = try await untrusted.console.decide(
                user: try untrusted.console.users.user("alice")!, runID: untrusted.runID, environment: "prod", decision: .approve, comment: nil)
            XCTFail("an untrusted console's approval is refused")
        } catch {
            XCTAssertTrue("\(error)".contains("not in the trusted keyring's `consoles:`"), "\(error)")
        }
        let v188 = try await untrusted.store.approvals(runID: untrusted.runID).count
        XCTAssertEqual(v188, 0)
    }

    func testTheAPIApprovesWithATokenAndNeverWithTheCookie() async throws {
        let f = try await ConsoleFixture()
        let token = try f.console.users.newToken(for: "bob")
        let onDisk = try String(contentsOfFile: f.console.users.path, encoding: .utf8)
        XCTAssertFalse(onDisk.contains(token), "tokens are stored hashed")
        XCTAssertFalse(onDisk.contains(ConsoleFixture.password), "passwords are stored hashed")
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("alice")
            let body = #"{"run":"\#(f.runID)","environment":"prod","decision":"approve","comment":"api"}"#
            let withCookie = try await b.request("/api/approvals", .post, headers: [.contentType: "application/json"])
            XCTAssertEqual(withCookie.status, .unauthorized, "a session cookie is not an API credential")
            let r = try await client.execute(
                uri: "/api/approvals", method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                body: ByteBuffer(string: body))
            XCTAssertEqual(r.status, .created, String(buffer: r.body))
            let json = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as! [String: Any]
            XCTAssertEqual(json["approver"] as? String, "bob")
            XCTAssertEqual(json["signedBy"] as? String, "console-1")

            let pending = try await client.execute(uri: "/api/approvals?pending=true", method: .get, headers: [.authorization: "Bearer \(token)"])
            let list = try JSONSerialization.jsonObject(with: Data(buffer: pending.body)) as! [[String: Any]]
            XCTAssertEqual(list.first?["run"] as? String, f.runID)
            XCTAssertEqual((list.first?["approvals"] as? [[String: Any]])?.first?["approver"] as? String, "bob")

            let bad = try await client.execute(
                uri: "/api/approvals", method: .post, headers: [.authorization: "Bearer \(token)"],
                body: ByteBuffer(string: #"{"run":"nope","environment":"prod","decision":"approve"}"#))
            XCTAssertEqual(bad.status, .unprocessableContent)

            try f.console.users.revokeTokens(of: "bob", id: nil)
            let revoked = try await client.execute(uri: "/api/environments", method: .get, headers: [.authorization: "Bearer \(token)"])
            XCTAssertEqual(revoked.status, .unauthorized)
        }
    }

    func testARemovedUserIsLoggedOut() async throws {
        let f = try await ConsoleFixture()
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("bob")
            let before = try await b.request("/environments")
            XCTAssertEqual(before.status, .ok)
            try f.console.users.remove(name: "bob")
            let after = try await b.request("/environments")
            XCTAssertEqual(after.status, .seeOther)
        }
    }

    func testPagesShowEnvironmentsRunsTimelineAndAudit() async throws {
        let f = try await ConsoleFixture()
        _ = try await f.console.decide(user: try f.console.users.user("alice")!, runID: f.runID, environment: "prod", decision: .approve, comment: "ok")
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("bob")
            let envsResponse = try await b.request("/environments")
            let envs = String(buffer: envsResponse.body)
            XCTAssertTrue(envs.contains("prod"))
            XCTAssertTrue(envs.contains("1 deploy waiting for approval"), envs)
            let run = String(buffer: try await b.request("/runs/\(f.runID)").body)
            XCTAssertTrue(run.contains("<svg"), "the timeline is drawn server-side")
            XCTAssertTrue(run.contains("aria-label=\"Timeline of run \(f.runID)\""))
            XCTAssertFalse(run.contains("<script"), "no scripts")
            let link = "/runs/\(f.runID)/logs/lint%20%28py%3D3.12%29"
            XCTAssertTrue(run.contains("href=\"\(link)\""), run)
            let log = try await b.request(link)
            XCTAssertEqual(String(buffer: log.body), "ruff: all checks passed\n")
            let missing = try await b.request("/runs/\(f.runID)/logs/test")
            XCTAssertEqual(missing.status, .notFound)
            let auditResponse = try await b.request("/audit")
            let audit = String(buffer: auditResponse.body)
            XCTAssertTrue(audit.contains("The chain of 1 entries verifies"), audit)
            let runsResponse = try await b.request("/runs")
            let runs = String(buffer: runsResponse.body)
            XCTAssertTrue(runs.contains(f.runID))
            let approvalsResponse = try await b.request("/approvals")
            let approvals = String(buffer: approvalsResponse.body)
            XCTAssertTrue(approvals.contains("approved by <b>alice</b> via console console-1"), approvals)
            XCTAssertTrue(approvals.contains("1 of 2 approvals (alice)"), "the rules are evaluated live")
        }
    }

    func testMetricsAreComputedFromTheStore() async throws {
        let f = try await ConsoleFixture()
        try await app(f).test(.router) { client in
            let r = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: r.body)
            for line in [
                #"shipgate_runs{status="blocked"} 1"#, #"shipgate_jobs{status="success"} 3"#, "shipgate_pending_approvals 1",
                #"shipgate_gate_verdicts{status="blocked"} 1"#, "shipgate_job_duration_seconds_count 4",
                #"shipgate_job_duration_seconds_bucket{le="5.0"} 3"#,
            ] {
                XCTAssertTrue(text.contains(line), "metrics lack \(line):\n\(text)")
            }
            let age = text.split(separator: "\n").first { $0.hasPrefix("shipgate_oldest_pending_approval_age_seconds ") }
            XCTAssertGreaterThan(Double(age?.split(separator: " ").last ?? "0") ?? 0, 60)
        }
    }

    func testScanFindingsOfPublishedSARIFReportsAreCounted() async throws {
        let f = try await ConsoleFixture()
        try f.publishScanReport()
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("alice")
            let response = try await b.request("/approvals")
            let page = String(buffer: response.body)
            XCTAssertTrue(page.contains("reports/trivy-web.sarif: <b>2 error, 2 warning</b>"), page)
        }
    }

    func testTheRollbackFormConfirmsAndNeedsItsToken() async throws {
        let f = try await ConsoleFixture()
        try await f.store.saveDeployment(
            DeploymentRow(
                release: "prod-1", environment: "prod", runID: f.runID, job: "deploy-prod", version: "v1.1.0", commitID: f.commit, artifacts: "{}",
                files: "[]", status: "success", approvedBy: "alice,bob", actor: "carol", rollbackOf: nil, startedAt: StateTime.string(Date())))
        try await f.store.saveDeployment(
            DeploymentRow(
                release: "prod-2", environment: "prod", runID: f.runID, job: "deploy-prod", version: "v1.2.0", commitID: f.commit, artifacts: "{}",
                files: "[]", status: "success", approvedBy: "alice,bob", actor: "carol", rollbackOf: nil,
                startedAt: StateTime.string(Date().addingTimeInterval(1))))
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("alice")
            let historyResponse = try await b.request("/environments/prod/history")
            let history = String(buffer: historyResponse.body)
            XCTAssertTrue(history.contains("/environments/prod/rollback?to=prod-1"), history)
            XCTAssertFalse(history.contains("rollback?to=prod-2"), "the current release is not a rollback target")
            let confirm = try await b.request("/environments/prod/rollback?to=prod-1")
            let page = String(buffer: confirm.body)
            XCTAssertTrue(page.contains("to <b>v1.1.0</b>") && page.contains("Reason (required)"), page)
            let forged = try await b.request("/rollbacks", .post, form: ["environment": "prod", "to": "prod-1", "reason": "x"])
            XCTAssertEqual(forged.status, .forbidden)
            let noReason = try await b.request("/rollbacks", .post, form: ["csrf": b.csrf(confirm)!, "environment": "prod", "to": "prod-1", "reason": " "])
            XCTAssertTrue(String(buffer: noReason.body).contains("a rollback needs a reason"))
        }
        XCTAssertEqual(f.console.rollbacksActive, 0, "nothing was started")
    }

    func testAConsoleWithoutAKeyShowsButCannotApprove() async throws {
        let f = try await ConsoleFixture(signer: false)
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("alice")
            let pageResponse = try await b.request("/approvals")
            let page = String(buffer: pageResponse.body)
            XCTAssertTrue(page.contains("no signing key"))
            XCTAssertFalse(page.contains("Approve as"))
        }
    }

    func testRollbackNeedsAReasonAndAnApprover() async throws {
        let f = try await ConsoleFixture()
        let alice = try f.console.users.user("alice")!
        await XCTAssertThrowsErrorAsync(try await f.console.rollBack(user: alice, environment: "prod", to: nil, reason: "  ")) {
            XCTAssertEqual(($0 as? ReleaseError)?.message, "a rollback needs a reason")
        }
        try f.console.users.add(name: "eve", approver: "eve", password: ConsoleFixture.password, cost: 4)
        await XCTAssertThrowsErrorAsync(try await f.console.rollBack(user: try f.console.users.user("eve")!, environment: "prod", to: nil, reason: "bad")) {
            XCTAssertTrue(($0 as? ReleaseError)?.message.contains("may not roll back prod") ?? false, "\($0)")
        }
        await XCTAssertThrowsErrorAsync(try await f.console.rollBack(user: alice, environment: "prod", to: "prod-nope", reason: "bad")) {
            XCTAssertEqual(($0 as? ReleaseError)?.message, "no release prod-nope in prod")
        }
    }
}

extension ConsoleTests {
    func testTheAuditPageReportsATamperedChain() async throws {
        let f = try await ConsoleFixture()
        for who in ["alice", "bob"] {
            _ = try await f.console.decide(user: try f.console.users.user(who)!, runID: f.runID, environment: "prod", decision: .approve, comment: who)
        }
        try await app(f).test(.router) { client in
            let b = Browser(client)
            _ = try await b.logIn("alice")
            let before = try await b.request("/audit")
            XCTAssertTrue(String(buffer: before.body).contains("The chain of 2 entries verifies"))
            // Someone with database access rewrites alice's comment.
            let db = try DatabaseQueue(path: f.root + "/.shipgate/state.db")
            try await db.write { try $0.execute(sql: "UPDATE audit SET detail = replace(detail, 'alice', 'mallory') WHERE seq = 1") }
            _ = try await f.console.verifyAuditNow()  // what the periodic full check does
            let after = try await b.request("/audit")
            let page = String(buffer: after.body)
            XCTAssertTrue(page.contains("The audit chain does NOT verify"), page)
            XCTAssertTrue(page.contains("entry 1 (approve at"), page)
        }
    }
}

/// The console on shared state: the same flow with the store in PostgreSQL.
final class ConsoleOnPostgresTests: XCTestCase {
    func testApproveThroughTheAPIAndPagesOnPostgres() async throws {
        guard let url = ProcessInfo.processInfo.environment["SHIPGATE_TEST_POSTGRES_URL"], !url.isEmpty else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_POSTGRES"] == "1" { XCTFail("SHIPGATE_TEST_POSTGRES_URL is not set") }
            throw XCTSkip("no PostgreSQL server: run through scripts/with-postgres.sh")
        }
        let f = try await ConsoleFixture(postgresAdminURL: url)
        let token = try f.console.users.newToken(for: "bob")
        try await Application(router: ConsoleServer.router(f.console)).test(.router) { client in
            let r = try await client.execute(
                uri: "/api/approvals", method: .post, headers: [.authorization: "Bearer \(token)"],
                body: ByteBuffer(string: #"{"run":"\#(f.runID)","environment":"prod","decision":"approve"}"#))
            XCTAssertEqual(r.status, .created, String(buffer: r.body))
            let b = ConsoleTests.Browser(client)
            _ = try await b.logIn("alice")
            let page = try await b.request("/approvals")
            XCTAssertTrue(String(buffer: page.body).contains("1 of 2 approvals (bob)"), String(buffer: page.body))
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            XCTAssertTrue(String(buffer: metrics.body).contains("shipgate_pending_approvals 1"))
            let audit = try await b.request("/audit")
            XCTAssertTrue(String(buffer: audit.body).contains("The chain of 1 entries verifies"))
        }
    }
}
