import Foundation
import ShipgateGate
import ShipgateLoading
import ShipgateModel
import ShipgateRelease
import ShipgateState

/// A scratch git repository on `main` with the given files committed, an approvers keyring of
/// fresh keys, and a SQLite state store under `.shipgate/`. Removed on deinit.
final class ReleaseRepo: @unchecked Sendable {
    let root: String
    let keys: [String: ApproverKey]
    let store: SQLiteStateStore

    init(files: [String: String], approvers: [String] = ["alice", "bob"]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-release-\(UUID().uuidString)").path
        var keys: [String: ApproverKey] = [:]
        var ring = ""
        for name in approvers {
            let key = ApproverKey(name: name)
            keys[name] = key
            ring += key.keyringLine + "\n"
        }
        self.keys = keys
        try FileManager.default.createDirectory(atPath: root + "/.shipgate", withIntermediateDirectories: true)
        store = try SQLiteStateStore(path: root + "/.shipgate/state.db")
        var all = files
        if all["pipelines/approvers.yml"] == nil { all["pipelines/approvers.yml"] = ring }
        all[".gitignore"] = ".shipgate/\nlive/\n"
        try write(all)
        try git("init -q -b main && git add -A && git commit -qm initial")
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ files: [String: String]) throws {
        for (path, text) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
    }

    /// Runs `git …` (and whatever follows with `&&`) in the repository.
    func git(_ command: String) throws { try sh("git -c user.name=test -c user.email=test@example.com " + command) }

    /// Runs a shell command in the repository (test setup: git, sqlite3).
    func sh(_ command: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        p.environment = ProcessInfo.processInfo.environment.merging(["GIT_CONFIG_NOSYSTEM": "1"]) { _, new in new }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "`\(command)` failed"]) }
    }

    func pipeline(_ path: String) throws -> Pipeline {
        let result = PipelineLoader.load(path: root + "/" + path)
        guard let p = result.pipeline else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "\(result.diagnostics)"]) }
        return p
    }

    func policy(running path: String) throws -> TrustedPolicy {
        TrustedPolicy.load(pipeline: try pipeline(path), pipelinePath: root + "/" + path, trustRef: nil)
    }

    /// Records a finished release of `job` in `environment`.
    @discardableResult
    func release(
        _ id: String, environment: String = "prod", job: String = "deploy-prod", commit: String, status: ReleaseStatus = .success,
        policy: String? = "main@x sha256:y", minutesAgo: Double
    ) async throws -> DeploymentRow {
        let at = StateTime.string(Date().addingTimeInterval(-minutesAgo * 60))
        let row = DeploymentRow(
            release: id, environment: environment, runID: "run-\(id)", job: job, version: id, commitID: commit, artifacts: "{}", files: "[]",
            status: status.rawValue, approvedBy: "alice", actor: "tester", startedAt: at, finishedAt: at, policy: policy)
        try await store.saveDeployment(row)
        return row
    }
}
