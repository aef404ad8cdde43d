import Foundation
import ShipgateGate
import ShipgateHTTP

/// `approve/reject --server URL`: the decision goes through a release console's JSON API,
/// which signs it for the user its API token belongs to.
enum ConsoleClient {
    static func token(file: String?) throws -> String {
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw fail("cannot read the token file \(file)") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let env = ProcessInfo.processInfo.environment["SHIPGATE_TOKEN"], !env.isEmpty else {
            throw fail("--server needs an API token", hint: "set SHIPGATE_TOKEN or pass --token-file; create one with `shipgate user token NAME`")
        }
        return env
    }

    static func decide(
        server: String, tokenFile: String?, run: String, environment: String, decision: ApprovalStatement.Decision, comment: String?,
        breakGlass: String?
    ) async throws {
        let token = try token(file: tokenFile)
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        guard let url = URL(string: base + "/api/approvals"), url.scheme == "http" || url.scheme == "https" else {
            throw fail("--server must be an http(s) URL, got \(server)")
        }
        var body: [String: String] = ["run": run, "environment": environment, "decision": decision.rawValue]
        if let comment { body["comment"] = comment }
        if let breakGlass { body["breakGlass"] = breakGlass }
        let payload = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        let status: Int
        let data: Data
        do {
            let answer = try await HTTPRequests.postJSON(url, body: Array(payload), headers: [("Authorization", "Bearer \(token)")], timeout: .seconds(30))
            (status, data) = (answer.status, Data(answer.body))
        } catch {
            throw fail("cannot reach the console at \(base): \(HTTPClients.describe(error))", hint: "is `shipgate serve` running there?")
        }
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        guard status == 201 else {
            let message = object["error"] as? String ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw fail(
                "the console refused (HTTP \(status)): \(message)",
                hint: object["hint"] as? String ?? (status == 401 ? "the token is missing, wrong or revoked; create one with `shipgate user token NAME`" : nil))
        }
        let verb = decision == .approve ? "approved" : "rejected"
        print(
            "\(object["approver"] as? String ?? "?") \(verb) the \(environment) deploy of run \(object["run"] as? String ?? run) (signed by console \(object["signedBy"] as? String ?? "?"))"
        )
        if let commit = object["commit"] as? String, let expires = object["expiresAt"] as? String {
            print("  commit \(commit.prefix(12))  expires \(expires)")
        }
        if decision == .approve { print("next: shipgate resume \(object["run"] as? String ?? run)   (it deploys once the gate has enough approvals)") }
    }
}
