import ArgumentParser
import Foundation
import ShipgateReport
import ShipgateState

extension Shipgate {
    struct State: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "state",
            abstract: "Manage the state store: move it to PostgreSQL, measure it.", subcommands: [Migrate.self, Bench.self])

        struct Migrate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "migrate",
                abstract: "Copy all state (runs, gates, approvals, releases, the audit chain) into an empty store.",
                discussion: """
                    Example: shipgate state migrate --from sqlite:.shipgate/state.db --to postgres://ci@db.internal/shipgate
                    The copy is verified: the same number of entries and the same audit chain head on both sides.
                    """)

            @Option(help: "The store to read: sqlite:PATH or postgres://….")
            var from: String

            @Option(help: "The store to write (must be empty): sqlite:PATH or postgres://….")
            var to: String

            func run() async throws {
                let source = try await open(from, "--from")
                let target = try await open(to, "--to")
                guard try await target.runs(limit: 1).isEmpty, try await target.auditEntries().isEmpty else {
                    throw fail("\(target.location) already holds state", hint: "migrate into an empty database")
                }
                let sourceAudit = try await source.verifyAudit()
                if !sourceAudit.problems.isEmpty {
                    throw fail("the audit chain of \(source.location) is broken; refusing to copy it: \(sourceAudit.problems[0])")
                }
                let runs = try await source.runs(limit: Int(Int32.max)).reversed()
                var jobs = 0
                var gates = 0
                for run in runs {
                    try await target.beginRun(run)
                    if run.status != "running" { try await target.finishRun(run.id, status: run.status, at: run.finishedAt.flatMap(StateTime.date) ?? Date()) }
                    let j = try await source.jobs(ofRun: run.id)
                    try await target.save(jobs: j, attempts: try source.attempts(ofRun: run.id))
                    jobs += j.count
                    for g in try await source.gates(ofRun: run.id) {
                        try await target.saveGate(g)
                        gates += 1
                    }
                }
                let approvals = try await source.allApprovals()
                for a in approvals { try await target.saveApproval(a) }
                let releases = try await source.deployments(environment: nil, limit: Int(Int32.max)).reversed()
                for d in releases { try await target.saveDeployment(d) }
                try await target.importAudit(try source.auditEntries())
                let copied = try await target.verifyAudit(expectedHead: sourceAudit.head)
                guard copied.problems.isEmpty, copied.head == sourceAudit.head, copied.entries == sourceAudit.entries else {
                    throw fail(
                        "the copy's audit chain does not match the source: \(copied.problems.first ?? "head \(copied.head.prefix(12)) ≠ \(sourceAudit.head.prefix(12))")"
                    )
                }
                print(
                    "copied \(runs.count) runs (\(jobs) jobs, \(gates) gates), \(approvals.count) approvals, \(releases.count) releases and \(copied.entries) audit entries"
                )
                print("from \(source.location) to \(target.location); audit chain verified, head \(copied.head)")
            }

            private func open(_ url: String, _ flag: String) async throws -> any StateStore {
                do { return try await StateLocation.open(url: url, stateDirectory: ".") } catch { throw fail("\(flag): \(error)") }
            }
        }

        struct Bench: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "bench",
                abstract: "Measure gate-check and deploy-lock latency of a scratch store (used by bench/state.sh).")

            @Option(name: .customLong("state"), help: "An empty scratch store: sqlite:PATH or postgres://….")
            var stateURL: String

            @Option(help: "Measurements of each kind.")
            var iterations: Int = 200

            func run() async throws {
                let store = try await StateLocation.open(url: stateURL, stateDirectory: ".")
                guard try await store.runs(limit: 1).isEmpty else {
                    throw fail("\(store.location) is not empty; state bench writes test rows, use a scratch store")
                }
                let run = RunRow(
                    id: "bench", pipeline: "bench", pipelineFile: "bench.yml", pipelineDigest: "d", status: "running", actor: "bench", commitID: "c",
                    branch: "main", version: "v", workspace: ".", startedAt: StateTime.string(Date()))
                try await store.beginRun(run)
                for n in 0..<3 {
                    try await store.saveApproval(
                        ApprovalRow(
                            digest: "bench-\(n)", decision: "approve", approver: "a\(n)", environment: "prod", commitID: "c", runID: "bench", issuedAt: "t",
                            expiresAt: "t", statement: "{}", recordedAt: "t"))
                }
                let clock = ContinuousClock()
                var gate: [Double] = []
                var lock: [Double] = []
                for i in 0..<iterations {
                    // What a gate decision costs the store: read the approvals, record the verdict, audit it.
                    var t = clock.now
                    _ = try await store.approvals(environment: "prod", commitID: "c")
                    try await store.saveGate(
                        GateRow(
                            runID: "bench", job: "deploy", environment: "prod", commitID: "c", pipelineDigest: "d", artifacts: "{}", status: "passed",
                            decision: "{}", requestedBy: "bench", requestedAt: "t", updatedAt: "t"))
                    try await store.audit(kind: "gate", actor: "bench", environment: "prod", runID: "bench", detail: ["i": "\(i)"])
                    gate.append(Self.ms(clock.now - t))
                    t = clock.now
                    let holder = LockRow(name: "environment:prod#1", runID: "bench", job: "deploy", actor: "bench", acquiredAt: "t")
                    guard case .acquired = try await store.tryLock(["environment:prod#1"], holder: holder) else { throw fail("the bench lock is held") }
                    try await store.unlock(["environment:prod#1"], runID: "bench", job: "deploy")
                    lock.append(Self.ms(clock.now - t))
                }
                print("\(store.location): \(iterations) iterations")
                print("  gate check (approvals read, gate row, audit append): p50 \(Self.p(gate, 0.5)) ms, p95 \(Self.p(gate, 0.95)) ms")
                print("  deploy lock acquire + release:                      p50 \(Self.p(lock, 0.5)) ms, p95 \(Self.p(lock, 0.95)) ms")
            }

            static func ms(_ d: Duration) -> Double {
                let (s, atto) = d.components
                return Double(s) * 1000 + Double(atto) / 1e15
            }

            static func p(_ values: [Double], _ q: Double) -> String {
                let sorted = values.sorted()
                let v = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)]
                return String(format: "%.2f", v)
            }
        }
    }
}
