import ArgumentParser
import Foundation
import ShipgateGate
import ShipgateRelease
import ShipgateReport
import ShipgateState

extension Shipgate {
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "history", abstract: "List the releases of an environment, newest first.")

        @Option(help: "The environment.")
        var env: String

        @Flag(help: "JSON output (an array of releases).")
        var json = false

        @Option(help: "Show at most this many releases.")
        var limit: Int = 50

        @OptionGroup var state: StateOptions

        func run() async throws {
            let store = try await state.open()
            let rows = try await store.deployments(environment: env, limit: limit)
            let live = try await LiveRelease.of(environment: env, in: store)
            if json {
                let items: [[String: Any]] = rows.map { d in
                    var o: [String: Any] = [
                        "release": d.release, "environment": d.environment, "version": d.version ?? "", "commit": d.commitID ?? "", "status": d.status,
                        "approvedBy": d.approvedBy.split(separator: ",").map(String.init), "deployedAt": d.startedAt, "runID": d.runID, "job": d.job,
                        "actor": d.actor,
                    ]
                    if let f = d.finishedAt { o["finishedAt"] = f }
                    if let x = d.detail { o["detail"] = x }
                    // The trusted policy it was made under; absent: history only, never a rollback target.
                    if let p = d.policy { o["policy"] = p }
                    if let r = d.rollbackOf { o["rollbackOf"] = r }
                    // What the environment runs (`LiveRelease`), and whether a failed rollback left it needing a person.
                    if live.isLive(d) {
                        o["live"] = true
                        o["needsManualAction"] = live.needsManualAction
                    }
                    return o
                }
                let data = try JSONSerialization.data(withJSONObject: items, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            guard !rows.isEmpty else {
                print("No release of \(env) yet.")
                return
            }
            let style = Terminal.stdoutStyle
            print(
                style.bold(
                    Format.padded("RELEASE", 32) + "  " + Format.padded("VERSION", 16) + "  COMMIT        " + Format.padded("STATUS", 16)
                        + "  APPROVED BY         DEPLOYED AT"))
            for d in rows {
                let status = Format.padded(d.status, 16)
                let coloured =
                    d.status == "success" ? style.green(status) : d.status == "rolled-back" ? style.yellow(status) : style.red(status)
                var line =
                    Format.padded(d.release, 32) + "  " + Format.padded(d.version ?? "-", 16) + "  " + Format.padded(String((d.commitID ?? "-").prefix(12)), 12)
                    + "  " + coloured + "  " + Format.padded(d.approvedBy.isEmpty ? "-" : d.approvedBy, 18) + "  " + d.startedAt
                if live.isLive(d) { line += style.bold("  " + live.marker) }
                print(line)
                if let detail = d.detail, d.status != "success" { print(style.dim("    \(detail)")) }
                if let r = d.rollbackOf { print(style.dim("    manual rollback to \(r)")) }
            }
            if let action = live.manualAction(environment: env) { print(style.red("⚠ " + action)) }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a run (default: the newest) with its jobs and gates.")

        @Argument(help: "The run id (or a unique prefix, or `last`).")
        var id: String = "last"

        @Flag(help: "JSON output.")
        var json = false

        @OptionGroup var state: StateOptions

        func run() async throws {
            let store = try await state.open()
            let row = try await state.run(id, in: store)
            let jobs = try await store.jobs(ofRun: row.id).compactMap(StateRecorder.decode)
            let gates = try await store.gates(ofRun: row.id)
            // The environments this run deployed to that a failed rollback left needing a person.
            var attention: [(environment: String, live: LiveRelease)] = []
            for env in Set(gates.map(\.environment)).sorted() {
                let live = try await LiveRelease.of(environment: env, in: store)
                if live.needsManualAction { attention.append((env, live)) }
            }
            if json {
                var o: [String: Any] = [
                    "run": row.id, "pipeline": row.pipeline, "status": row.status, "actor": row.actor, "commit": row.commitID ?? "",
                    "branch": row.branch ?? "", "version": row.version ?? "", "startedAt": row.startedAt,
                ]
                if let f = row.finishedAt { o["finishedAt"] = f }
                o["jobs"] = jobs.map { ["id": $0.id, "status": $0.status.rawValue, "reason": $0.reason ?? ""] }
                o["gates"] = gates.map { g -> [String: Any] in
                    var x: [String: Any] = ["job": g.job, "environment": g.environment, "status": g.status]
                    if let d = try? JSONSerialization.jsonObject(with: Data(g.decision.utf8)) { x["decision"] = d }
                    return x
                }
                o["needsManualAction"] = attention.map { a -> [String: Any] in
                    [
                        "environment": a.environment, "live": a.live.release?.release ?? "", "rollbackFailed": a.live.failedRollback?.release ?? "",
                        "message": a.live.manualAction(environment: a.environment) ?? "",
                    ]
                }
                let data = try JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let style = Terminal.stdoutStyle
            print(style.bold("run \(row.id)") + "  \(row.pipeline)  \(row.status)")
            print(
                "  by \(row.actor) at \(row.startedAt)" + (row.commitID.map { "  commit \($0.prefix(12))" } ?? "") + (row.branch.map { " (\($0))" } ?? "")
                    + (row.version.map { "  version \($0)" } ?? ""))
            for j in jobs.sorted(by: { ($0.startedAt ?? .distantFuture) < ($1.startedAt ?? .distantFuture) }) {
                print("  \(Format.styled(j.status, Format.symbol(j.status) + " " + Format.padded(j.id, 28), style))  \(j.status.rawValue)")
            }
            for g in gates {
                print(style.bold("  gate \(g.environment) (\(g.job)): \(g.status)"))
                if let d = try? JSONDecoder().decode(GateDecision.self, from: Data(g.decision.utf8)) {
                    print(DeployController.describe(d).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
                }
            }
            for a in attention { print(style.red("  ⚠ " + (a.live.manualAction(environment: a.environment) ?? ""))) }
            switch row.status {
            case "blocked":
                for g in gates where g.status == "blocked" {
                    print("  → shipgate approve \(row.id) --env \(g.environment) --key KEYFILE, then shipgate resume \(row.id)")
                }
            case "interrupted": print("  → shipgate resume \(row.id)")
            default: break
            }
        }
    }

    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Show the audit log: every gate decision, approval, deploy, verify, rollback and break-glass.",
            subcommands: [Show.self, Verify.self], defaultSubcommand: Show.self)

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "show", abstract: "List audit entries, oldest first.")

            @Option(help: "Only entries of this environment.")
            var env: String?

            @Flag(help: "JSON lines output.")
            var json = false

            @OptionGroup var state: StateOptions

            func run() async throws {
                let store = try await state.open()
                for e in try await store.auditEntries(environment: env) {
                    if json {
                        var o: [String: Any] = ["seq": e.seq, "at": e.at, "kind": e.kind, "actor": e.actor, "hash": e.hash, "prevHash": e.prevHash]
                        if let x = e.environment { o["environment"] = x }
                        if let x = e.runID { o["run"] = x }
                        o["detail"] = (try? JSONSerialization.jsonObject(with: Data(e.detail.utf8))) ?? e.detail
                        let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
                        print(String(decoding: data, as: UTF8.self))
                    } else {
                        let facts = (try? JSONDecoder().decode([String: String].self, from: Data(e.detail.utf8))) ?? [:]
                        let summary = facts.filter { $0.key != "rules" && $0.key != "refused" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                            .joined(separator: " ")
                        print(
                            "#\(e.seq) \(e.at) \(e.kind) by \(e.actor)\(e.environment.map { " [\($0)]" } ?? "")\(e.runID.map { " run \($0)" } ?? "")  \(summary)"
                        )
                    }
                }
            }
        }

        struct Verify: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "verify", abstract: "Check the audit log's hash chain; exits 1 if any entry was edited, inserted or deleted.")

            @Option(help: "A head hash recorded earlier (e.g. in CI logs): also detects entries deleted at the end.")
            var head: String?

            @OptionGroup var state: StateOptions

            func run() async throws {
                let store = try await state.open()
                let result = try await store.verifyAudit(expectedHead: head)
                if result.problems.isEmpty {
                    print("audit log intact: \(result.entries) entries, head \(result.head)")
                    return
                }
                for p in result.problems { FileDescriptorSink.standardError.write("✗ \(p)\n") }
                throw fail(
                    "audit log tampered: \(result.problems.count) problem\(result.problems.count == 1 ? "" : "s") in \(result.entries) entries",
                    code: Exit.jobFailed)
            }
        }
    }
}
