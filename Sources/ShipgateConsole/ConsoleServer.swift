import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ShipgateGate
import ShipgateRelease
import ShipgateState

/// The request context: Hummingbird's core storage and the client's address (for login throttling).
public struct ConsoleContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// Runs blocking work (the state store, git, bcrypt) off the server's threads.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        DispatchQueue.global().async { c.resume(with: Result { try body() }) }
    }
}

/// Work that is itself async (the state store) needs no thread of its own.
func offload<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T { try await body() }

/// The console's routes. Pages need a login (session cookie + CSRF token on every form);
/// `/api/` needs `Authorization: Bearer TOKEN` and never accepts the cookie, so a page on
/// another site cannot make a logged-in browser call it. `/healthz` and `/metrics` are open.
public enum ConsoleServer {
    static let sessionCookie = "sg_session"
    static let loginCookie = "sg_login"
    static let maxForm = 64 * 1024

    public static func router(_ console: Console) -> Router<ConsoleContext> {
        let router = Router(context: ConsoleContext.self)
        router.get("/healthz") { _, _ in text("ok\n") }
        router.get("/metrics") { _, _ in
            let m = try await console.store.metrics()
            return text(ConsoleMetrics.render(m, now: console.now()), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/") { _, _ in redirect("/environments") }

        // Login.
        router.get("/login") { _, _ in
            let token = Random.token(16)
            var r = html(Console.loginPage(csrf: token))
            r.setCookie(cookie(loginCookie, token, console: console, maxAge: 900))
            return r
        }
        router.post("/login") { request, context in
            var request = request
            let form = try await readForm(&request)
            guard let token = request.cookies[loginCookie]?.value, let sent = form["csrf"], UserStore.constantTimeEqual(token, sent) else {
                return html(Console.loginPage(error: "The form expired; try again.", csrf: ""), status: .forbidden)
            }
            let name = form["user"] ?? "", password = form["password"] ?? ""
            let keys = ["user:" + name] + (context.remoteAddress.map { ["addr:" + $0] } ?? [])
            if let wait = console.throttle.retryAfter(keys, now: console.now()) {
                var r = html(Console.loginPage(error: "Too many failed logins; try again in \(wait) s.", csrf: token), status: .tooManyRequests)
                r.headers[.retryAfter] = String(wait)
                return r
            }
            guard let user = try await offload({ try await console.users.authenticate(name: name, password: password) }) else {
                console.throttle.failed(keys, now: console.now())
                return html(Console.loginPage(error: "Wrong user name or password.", csrf: token), status: .unauthorized)
            }
            console.throttle.succeeded(["user:" + name])
            let (id, _) = console.sessions.create(user: user, now: console.now())
            var r = redirect("/approvals")
            r.setCookie(cookie(sessionCookie, id, console: console, maxAge: nil))
            r.setCookie(cookie(loginCookie, "", console: console, maxAge: 0))
            return r
        }
        router.post("/logout") { request, _ in
            var request = request
            let form = try await readForm(&request)
            if let (id, session, _) = try await sessionUser(request, console), form["csrf"] == session.csrf { console.sessions.end(id) }
            var r = redirect("/login")
            r.setCookie(cookie(sessionCookie, "", console: console, maxAge: 0))
            return r
        }

        // Pages.
        page(router, "/environments", console, active: "environments") { _, _, _, _ in await ("Environments", try console.environmentsPage()) }
        page(router, "/approvals", console, active: "approvals") { _, _, user, session in
            await ("Pending approvals", try console.approvalsPage(user: user, csrf: session.csrf))
        }
        page(router, "/environments/:env/history", console, active: "environments") { _, context, _, session in
            let env = ConsoleServer.parameter(context, "env")
            return ("History of \(env)", try await console.historyPage(environment: env, csrf: session.csrf))
        }
        page(router, "/environments/:env/rollback", console, active: "environments") { request, context, _, session in
            let env = ConsoleServer.parameter(context, "env")
            let to = request.uri.queryParameters["to"].map(String.init) ?? ""
            return ("Roll back \(env)", try await console.rollbackConfirmPage(environment: env, to: to, csrf: session.csrf))
        }
        page(router, "/runs", console, active: "runs") { request, _, _, _ in
            await ("Runs", try console.runsPage(page: max(0, Int(request.uri.queryParameters["page"].map(String.init) ?? "0") ?? 0)))
        }
        page(router, "/runs/:id", console, active: "runs") { _, context, _, _ in
            let id = ConsoleServer.parameter(context, "id")
            guard let t = try await console.timeline(runID: id, embedLogs: false) else { throw HTTPError(.notFound, message: "no run \(id)") }
            return ("Run \(t.run.id)", t.body())
        }
        page(router, "/audit", console, active: "audit") { request, _, _, _ in
            await ("Audit", try console.auditPage(environment: request.uri.queryParameters["env"].map(String.init)))
        }
        router.get("/runs/:id/logs/:job") { request, context in
            guard try await sessionUser(request, console) != nil else { return redirect("/login") }
            let id = ConsoleServer.parameter(context, "id"), job = ConsoleServer.parameter(context, "job")
            guard let log = try await offload({ await console.log(runID: id, job: job) }) else {
                return text("no log of \(job) in run \(id) on this host\n", status: .notFound)
            }
            return text(log)
        }

        // Form actions.
        router.post("/approvals") { request, _ in
            var request = request
            let form = try await readForm(&request)
            guard let (_, session, user) = try await sessionUser(request, console) else { return redirect("/login") }
            guard form["csrf"].map({ UserStore.constantTimeEqual($0, session.csrf) }) == true else { return csrfRefused() }
            let decision = ApprovalStatement.Decision(rawValue: form["decision"] ?? "")
            var flash: String
            do {
                guard let decision else { throw ReleaseError("decision must be approve or reject") }
                let s = try await offload {
                    try await console.decide(
                        user: user, runID: form["run"] ?? "", environment: form["environment"] ?? "", decision: decision, comment: form["comment"])
                }
                flash =
                    "<p class=\"flash ok\">\(HTML.esc(s.approver)) \(decision == .approve ? "approved" : "rejected") the \(HTML.esc(s.environment)) deploy of run \(HTML.esc(s.runID)). "
                    + (decision == .approve
                        ? "It deploys when <code>shipgate resume \(HTML.esc(s.runID))</code> runs (or a waiting run sees the gate pass).</p>" : "</p>")
            } catch let e as ReleaseError {
                flash = "<p class=\"flash bad\">\(HTML.esc(e.message))\(e.hint.map { " — \(HTML.esc($0))" } ?? "")</p>"
            }
            let message = flash
            let body = try await offload { try await console.approvalsPage(user: user, csrf: session.csrf, flash: message) }
            return html(HTML.page(title: "Pending approvals", active: "approvals", user: user.name, csrf: session.csrf, body: body))
        }
        router.post("/rollbacks") { request, _ in
            var request = request
            let form = try await readForm(&request)
            guard let (_, session, user) = try await sessionUser(request, console) else { return redirect("/login") }
            guard form["csrf"].map({ UserStore.constantTimeEqual($0, session.csrf) }) == true else { return csrfRefused() }
            let env = form["environment"] ?? ""
            var body: String
            do {
                let to = form["to"].flatMap { $0.isEmpty ? nil : $0 }
                let launched = try await offload { try await console.rollBack(user: user, environment: env, to: to, reason: form["reason"] ?? "") }
                body =
                    "<p class=\"flash ok\">Rollback of \(HTML.esc(env)) started (\(HTML.esc(launched.id))). The history below shows it when it finishes.</p>"
            } catch let e as ReleaseError {
                body = "<p class=\"flash bad\">\(HTML.esc(e.message))\(e.hint.map { " — \(HTML.esc($0))" } ?? "")</p>"
            }
            body += try await offload { try await console.historyPage(environment: env, csrf: session.csrf) }
            return html(HTML.page(title: "History of \(env)", active: "environments", user: user.name, csrf: session.csrf, body: body))
        }

        ConsoleAPI.add(to: router, console)
        return router
    }

    /// A page that needs a login: `render` returns the title and body.
    static func page(
        _ router: Router<ConsoleContext>, _ path: RouterPath, _ console: Console, active: String,
        _ render: @escaping @Sendable (Request, ConsoleContext, ConsoleUser, SessionStore.Session) async throws -> (String, String)
    ) {
        router.get(path) { request, context in
            guard let (_, session, user) = try await sessionUser(request, console) else { return redirect("/login") }
            let (title, body) = try await render(request, context, user, session)
            return html(HTML.page(title: title, active: active, user: user.name, csrf: session.csrf, body: body))
        }
    }

    /// The session cookie's live session and its user (who must still be in the users file).
    static func sessionUser(_ request: Request, _ console: Console) async throws -> (String, SessionStore.Session, ConsoleUser)? {
        guard let id = request.cookies[sessionCookie]?.value, !id.isEmpty, let session = console.sessions.session(id, now: console.now()) else {
            return nil
        }
        guard let user = try await offload({ try await console.users.user(session.user) }) else {
            console.sessions.end(id)
            return nil
        }
        return (id, session, user)
    }

    /// A path parameter, percent-decoded (a job id such as `lint (py=3.12)` arrives encoded).
    static func parameter(_ context: ConsoleContext, _ name: String) -> String {
        let raw = context.parameters.get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }

    /// `application/x-www-form-urlencoded` fields (the last value of a repeated name wins).
    static func readForm(_ request: inout Request) async throws -> [String: String] {
        let buffer = try await request.collectBody(upTo: maxForm)
        return parseForm(String(buffer: buffer))
    }

    static func parseForm(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            fields[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return fields
    }

    static func cookie(_ name: String, _ value: String, console: Console, maxAge: Int?) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: console.settings.secureCookies, httpOnly: true, sameSite: .strict)
    }

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (
            .contentSecurityPolicy,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("Referrer-Policy")!, "no-referrer"),
        (.cacheControl, "no-store"),
    ]

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        respond(body, type: "text/html; charset=utf-8", status: status)
    }

    static func text(_ body: String, type: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
        respond(body, type: type, status: status)
    }

    static func respond(_ body: String, type: String, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        for (name, value) in securityHeaders { headers[name] = value }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func redirect(_ location: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: headers)
    }

    static func csrfRefused() -> Response {
        html(
            HTML.page(
                title: "Refused", body: "<p class=\"flash bad\">Refused: the form's security token is missing or wrong. Reload the page and try again.</p>"),
            status: .forbidden)
    }
}
