import Foundation
import HTTPTypes
import Hummingbird
import ShipgateGate
import ShipgateRelease
import ShipgateState

/// `/api/…`: the console's data and actions as JSON, for `shipgate approve --server` and
/// scripts. Every route needs `Authorization: Bearer TOKEN` (`shipgate user token NAME`);
/// without a valid one it answers 401.
enum ConsoleAPI {
    static func add(to router: Router<ConsoleContext>, _ console: Console) {
        get(router, "/api/environments", console) { _, _, _ in
            try await console.environments().map { env -> [String: Any] in
                [
                    "name": env.name, "protected": env.protected, "current": env.current.map(deployment) ?? NSNull(),
                    "needsManualAction": env.live.needsManualAction, "manualAction": env.live.manualAction(environment: env.name) ?? NSNull(),
                    "recent": env.recent.map(deployment), "pending": env.pending,
                    "locks": env.locks.map { ["run": $0.runID, "job": $0.job, "actor": $0.actor, "since": $0.acquiredAt] },
                    "schedule": env.schedule.map { ["rule": $0.rule, "passed": $0.passed, "detail": $0.detail] },
                ]
            }
        }
        get(router, "/api/approvals", console) { request, _, _ in
            let pendingOnly = request.uri.queryParameters["pending"].map { $0 == "true" || $0 == "1" } ?? false
            let gates = try await pendingOnly ? console.store.blockedGates() : console.store.blockedGates() + recentDecided(console.store)
            var list: [[String: Any]] = []
            for g in gates {
                let statements = await ApprovalRecords.statements(store: console.store, runID: g.runID, environment: g.environment, commit: g.commitID)
                let run = try await console.store.run(g.runID)
                // Only statements that verify against the trusted keyring are approvals.
                let keyring = run.flatMap { console.policy(pipelineFile: console.pipelineFile(of: $0)) }?.keyring ?? Keyring()
                let shown = statements.map { ShownStatement($0, keyring: keyring) }
                list.append([
                    "run": g.runID, "job": g.job, "environment": g.environment, "status": g.status, "commit": g.commitID ?? NSNull(),
                    "version": run?.version ?? NSNull(), "requestedBy": g.requestedBy, "requestedAt": g.requestedAt,
                    "artifacts": (try? JSONSerialization.jsonObject(with: Data(g.artifacts.utf8))) ?? [:],
                    "decision": (try? JSONSerialization.jsonObject(with: Data(g.decision.utf8))) ?? [:],
                    "approvals": shown.filter(\.verified).map(\.jsonObject), "unverified": shown.filter { !$0.verified }.map(\.jsonObject),
                ])
            }
            return list
        }
        get(router, "/api/runs/:id", console) { _, context, _ in
            let id = ConsoleServer.parameter(context, "id")
            guard let run = try await console.store.findRun(id) else { throw HTTPError(.notFound, message: "no run \(id)") }
            let jobs = try await console.store.jobs(ofRun: run.id).compactMap(StateRecorder.decode)
            return [
                "id": run.id, "pipeline": run.pipeline, "status": run.status, "actor": run.actor, "commit": run.commitID ?? NSNull(),
                "version": run.version ?? NSNull(), "startedAt": run.startedAt, "finishedAt": run.finishedAt ?? NSNull(),
                "jobs": jobs.map { j -> [String: Any] in
                    ["id": j.id, "status": j.status.rawValue, "durationMs": j.durationMs, "attempts": j.attempts, "reason": j.reason ?? NSNull()]
                },
            ]
        }
        get(router, "/api/audit", console) { request, _, _ in
            let result = try await console.audit.check(console.store, now: console.now())
            let limit = Int(request.uri.queryParameters["limit"].map(String.init) ?? "100") ?? 100
            return await [
                "verified": result.verification.problems.isEmpty, "entries": result.verification.entries, "head": result.verification.head,
                "problems": result.verification.problems,
                "latest": try console.store.latestAudit(limit: max(0, min(limit, 10_000)), environment: nil).map { r -> [String: Any] in
                    [
                        "seq": r.seq, "at": r.at, "kind": r.kind, "actor": r.actor, "environment": r.environment ?? NSNull(), "run": r.runID ?? NSNull(),
                        "detail": r.detail,
                    ]
                },
            ]
        }
        router.post("/api/approvals") { request, _ in
            var request = request
            guard let user = try await apiUser(request, console) else { return unauthorized() }
            let body = try await readJSON(&request)
            guard let decision = ApprovalStatement.Decision(rawValue: body["decision"] ?? "") else {
                return json(["error": "`decision` must be \"approve\" or \"reject\""], status: .badRequest)
            }
            guard let run = body["run"], let env = body["environment"] else {
                return json(["error": "`run` and `environment` are required"], status: .badRequest)
            }
            do {
                let s = try await offload {
                    try await console.decide(
                        user: user, runID: run, environment: env, decision: decision, comment: body["comment"],
                        breakGlass: body["breakGlass"])
                }
                return json(
                    [
                        "approver": s.approver, "run": s.runID, "environment": s.environment, "decision": s.decision.rawValue, "commit": s.commit,
                        "artifacts": s.artifacts, "expiresAt": s.expiresAt, "signedBy": s.signedBy ?? "", "digest": s.digest,
                    ], status: .created)
            } catch let e as ReleaseError {
                return json(["error": e.message, "hint": e.hint ?? ""], status: .unprocessableContent)
            }
        }
        router.post("/api/rollbacks") { request, _ in
            var request = request
            guard let user = try await apiUser(request, console) else { return unauthorized() }
            let body = try await readJSON(&request)
            guard let env = body["environment"] else { return json(["error": "`environment` is required"], status: .badRequest) }
            do {
                let launched = try await offload {
                    try await console.rollBack(user: user, environment: env, to: body["to"], reason: body["reason"] ?? "")
                }
                return json(["id": launched.id, "environment": env, "to": launched.target, "log": launched.log ?? ""], status: .accepted)
            } catch let e as ReleaseError {
                return json(["error": e.message, "hint": e.hint ?? ""], status: .unprocessableContent)
            }
        }
    }

    static func recentDecided(_ store: any StateStore) async throws -> [GateRow] {
        var gates: [GateRow] = []
        for run in try await store.runs(limit: 50) { gates += try await store.gates(ofRun: run.id) }
        return gates.filter { $0.status != "blocked" }
    }

    static func deployment(_ d: DeploymentRow) -> [String: Any] {
        [
            "release": d.release, "version": d.version ?? NSNull(), "commit": d.commitID ?? NSNull(), "status": d.status, "approvedBy": d.approvedBy,
            "actor": d.actor, "startedAt": d.startedAt, "finishedAt": d.finishedAt ?? NSNull(), "rollbackOf": d.rollbackOf ?? NSNull(),
        ]
    }

    /// A GET route that needs a token and returns JSON.
    static func get(
        _ router: Router<ConsoleContext>, _ path: RouterPath, _ console: Console,
        _ produce: @escaping @Sendable (Request, ConsoleContext, ConsoleUser) async throws -> Any
    ) {
        router.get(path) { request, context in
            guard let user = try await apiUser(request, console) else { return unauthorized() }
            let object = try await produce(request, context, user)
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            return ConsoleServer.text(String(decoding: data, as: UTF8.self), type: "application/json")
        }
    }

    static func apiUser(_ request: Request, _ console: Console) async throws -> ConsoleUser? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        return try await offload { try await console.users.user(forToken: token) }
    }

    /// The string fields of a JSON object body.
    static func readJSON(_ request: inout Request) async throws -> [String: String] {
        let buffer = try await request.collectBody(upTo: ConsoleServer.maxForm)
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] else {
            throw HTTPError(.badRequest, message: "the body must be a JSON object")
        }
        return object.compactMapValues { $0 as? String }
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return ConsoleServer.text(String(decoding: data, as: UTF8.self), type: "application/json", status: status)
    }

    static func unauthorized() -> Response {
        var r = json(
            ["error": "authentication required: send `Authorization: Bearer TOKEN` (create one with `shipgate user token NAME`)"], status: .unauthorized)
        r.headers[.wwwAuthenticate] = "Bearer realm=\"shipgate\""
        return r
    }
}
