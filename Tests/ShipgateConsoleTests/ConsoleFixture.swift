import Crypto
import Foundation
import ShipgateConsole
import ShipgateGate
import ShipgatePostgres
import ShipgateState
import XCTest

/// A scratch repository on `main` (pipeline with a protected `prod`, keyring with three
/// approvers and the console's key under `consoles:`), a SQLite state store holding one run
/// blocked at prod's gate, a users file, and the console over them. Removed on deinit.
final class ConsoleFixture: @unchecked Sendable {
    let root: String
    let store: any StateStore
    /// A PostgreSQL database made for this fixture (dropped on deinit), when it uses one.
    var postgres: (admin: String, database: String)?
    let console: Console
    let keys: [String: ApproverKey]
    let consoleKey = ApproverKey(name: "console-1")
    let runID = "20261127-100000-000abcdef"
    let commit: String
    static let password = "correct horse battery"

    static let pipeline = """
        name: demo
        environments:
          prod:
            approvals: { required: 2, from: [alice, bob, carol] }
            concurrency: 1
        jobs:
          test:
            steps: [{ run: "true" }]
          build:
            steps: [{ run: "true" }]
          deploy-prod:
            needs: [test, build]
            environment: prod
            steps: [{ run: "true" }]
            rollback: [{ run: "true" }]

        """

    /// `postgresAdminURL`: keep the state in a new database on that server instead of SQLite.
    init(trustConsole: Bool = true, signer: Bool = true, postgresAdminURL: String? = nil) async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-console-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/pipelines", withIntermediateDirectories: true)
        try Self.pipeline.write(toFile: root + "/pipelines/deploy.yml", atomically: true, encoding: .utf8)
        var keys: [String: ApproverKey] = [:]
        var ring = ""
        for name in ["alice", "bob", "carol"] {
            let k = ApproverKey(name: name)
            keys[name] = k
            ring += k.keyringLine + "\n"
        }
        if trustConsole { ring += "consoles:\n  \(consoleKey.keyringLine)\n" }
        self.keys = keys
        try ring.write(toFile: root + "/pipelines/approvers.yml", atomically: true, encoding: .utf8)
        try ".shipgate/\n".write(toFile: root + "/.gitignore", atomically: true, encoding: .utf8)
        try Self.git(["init", "-q", "-b", "main"], in: root)
        try Self.git(["add", "-A"], in: root)
        try Self.git(["commit", "-qm", "initial: the demo pipeline"], in: root)
        commit = try Self.gitOutput(["rev-parse", "HEAD"], in: root)

        if let admin = postgresAdminURL {
            let database = "shipgate_console_" + UUID().uuidString.prefix(8).lowercased()
            try await PostgresStateStore.administer(admin, "CREATE DATABASE \(database)")
            postgres = (admin, database)
            var c = URLComponents(string: admin)!
            c.path = "/" + database
            store = try await PostgresStateStore(url: c.string!)
        } else {
            store = try SQLiteStateStore(path: root + "/.shipgate/state.db")
        }
        let users = UserStore(path: root + "/.shipgate/console/users.json")
        for name in ["alice", "bob", "carol"] { try users.add(name: name, approver: name, password: Self.password, cost: 4) }
        console = Console(
            store: store,
            settings: .init(
                workspace: root, pipelinePath: root + "/pipelines/deploy.yml", stateDirectory: root + "/.shipgate", trustRef: nil,
                keyringPath: "pipelines/approvers.yml"),
            users: users, signer: signer ? ConsoleSigner(key: consoleKey, name: "console-1") : nil)
        try await seedBlockedRun()
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
        if let postgres {
            Task { try? await PostgresStateStore.administer(postgres.admin, "DROP DATABASE IF EXISTS \(postgres.database) WITH (FORCE)") }
        }
    }

    /// A run by carol whose test and build succeeded and whose prod deploy waits for approvals.
    func seedBlockedRun() async throws {
        let started = Date().addingTimeInterval(-120)
        try await store.beginRun(
            RunRow(
                id: runID, pipeline: "demo", pipelineFile: root + "/pipelines/deploy.yml", pipelineDigest: "sha256:pipeline", status: "running",
                actor: "carol", commitID: commit, branch: "main", version: "v1.2.0", workspace: root,
                git: #"{"author":"Carol <carol@example.com>","branch":"main","subject":"initial: the demo pipeline","tag":"v1.2.0"}"#,
                startedAt: StateTime.string(started)))
        func job(_ id: String, _ status: String, offset: Double, ms: Int64, log: String? = nil) async -> JobRow {
            let s = started.addingTimeInterval(offset), f = s.addingTimeInterval(Double(ms) / 1000)
            let iso = { (d: Date) in StateTime.string(d) }
            return JobRow(
                runID: runID, id: id, status: status,
                record:
                    #"{"id":"\#(id)","status":"\#(status)","attempts":1,"durationMs":\#(ms),"startedAt":"\#(iso(s).prefix(19))Z","finishedAt":"\#(iso(f).prefix(19))Z","outputs":{},"continueOnError":false\#(log.map { #","log":"\#($0)""# } ?? "")}"#,
                finishedAt: iso(f), durationMs: ms)
        }
        try await store.save(
            jobs: [
                job("lint (py=3.12)", "success", offset: 0, ms: 2000, log: "logs/lint-py=3.12.log"),
                job("test", "success", offset: 0, ms: 4000), job("build", "success", offset: 0, ms: 9000),
                job("<script>x</script>", "failed", offset: 2, ms: 1000),
            ],
            attempts: [])
        let logs = root + "/.shipgate/runs/\(runID)/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try "ruff: all checks passed\n".write(toFile: logs + "/lint-py=3.12.log", atomically: true, encoding: .utf8)
        try await store.saveGate(
            GateRow(
                runID: runID, job: "deploy-prod", environment: "prod", commitID: commit, pipelineDigest: "sha256:pipeline",
                artifacts: #"{"build":"sha256:0123456789abcdef"}"#, status: "blocked",
                decision:
                    #"{"environment":"prod","passed":false,"rules":[{"rule":"approvals","passed":false,"detail":"0 of 2 approvals"}],"approvedBy":[],"refused":[],"approvalsMissing":2,"canApprove":["alice","bob"]}"#,
                requestedBy: "carol", requestedAt: StateTime.string(started.addingTimeInterval(10)), updatedAt: StateTime.string(started.addingTimeInterval(10))
            ))
        try await store.finishRun(runID, status: "blocked")
    }

    /// The scan job published a SARIF report (in the run's artifact manifest, its bytes in the CAS).
    func publishScanReport() throws {
        let sarif = #"{"version":"2.1.0","runs":[{"results":[{"level":"error"},{"level":"error"},{"level":"warning"},{}]}]}"#
        let digest = SHA256.hash(data: Data(sarif.utf8)).map { String(format: "%02x", $0) }.joined()
        let cas = root + "/.shipgate/cache/cas/\(digest.prefix(2))"
        try FileManager.default.createDirectory(atPath: cas, withIntermediateDirectories: true)
        try sarif.write(toFile: cas + "/" + digest, atomically: true, encoding: .utf8)
        let artifacts = root + "/.shipgate/runs/\(runID)/artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        try
            #"{"schemaVersion":1,"job":"scan","runID":"\#(runID)","createdAt":"2026-11-27T10:00:00Z","files":[{"path":"reports/trivy-web.sarif","kind":"file","mode":420,"size":\#(sarif.utf8.count),"digest":"\#(digest)"}]}"#
            .write(toFile: artifacts + "/scan.json", atomically: true, encoding: .utf8)
    }

    static func git(_ args: [String], in dir: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "git \(args) failed"]) }
    }

    static func gitOutput(_ args: [String], in dir: String) throws -> String {
        let out = dir + "/.git-output"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        try p.run()
        p.waitUntilExit()
        defer { try? FileManager.default.removeItem(atPath: out) }
        return (try String(contentsOfFile: out, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
