import Foundation
import ShipgateRelease

/// Runs `shipgate rollback` as a child process for the console, its output in a log file.
///
/// The rollback is the CLI's own command, so it takes the environment lock, restores the
/// target's artifacts, runs the `rollback` steps and audits exactly as from a terminal. The
/// console does not wait for it: the history page shows its progress.
public final class RollbackLauncher: @unchecked Sendable {
    public struct Launched: Sendable {
        public var id: String
        public var environment: String
        public var log: String?
        public var pid: Int32
    }

    let executable: String
    let workspace: String
    let logDirectory: String?
    /// Extra environment for the child (e.g. SHIPGATE_STATE_URL, never on its command line).
    public var environment: [String: String] = [:]
    /// Arguments that select the state store (`--state-dir DIR`).
    public var stateArguments: [String] = []
    private let lock = NSLock()
    private var running: [String: Process] = [:]

    init(executable: String, workspace: String, logDirectory: String?) {
        self.executable = executable
        self.workspace = workspace
        self.logDirectory = logDirectory
    }

    func launch(environment env: String, to release: String?, actor: String, reason: String, pipeline: String) throws -> Launched {
        let id = "\(env)-\(Int(Date().timeIntervalSince1970))-\(Random.token(3))"
        var args = ["rollback", pipeline, "--env", env, "--actor", actor, "--reason", reason] + stateArguments
        if let release { args += ["--to", release] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.currentDirectoryURL = URL(fileURLWithPath: workspace)
        var childEnv = ProcessInfo.processInfo.environment
        for (k, v) in environment { childEnv[k] = v }
        childEnv["NO_COLOR"] = "1"
        process.environment = childEnv
        var logPath: String?
        if let dir = logDirectory {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let path = dir + "/\(id).log"
            if FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) {
                process.standardOutput = handle
                process.standardError = handle
                logPath = path
            }
        }
        if logPath == nil {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [weak self] _ in self?.lock.withLock { self?.running[id] = nil } }
        do { try process.run() } catch { throw ReleaseError("cannot start \(executable) rollback: \(error.localizedDescription)") }
        lock.withLock { running[id] = process }
        return Launched(id: id, environment: env, log: logPath, pid: process.processIdentifier)
    }

    /// Waits for every rollback this console started (for tests and shutdown).
    public func waitAll() {
        let all = lock.withLock { Array(running.values) }
        for p in all { p.waitUntilExit() }
    }

    public var active: Int { lock.withLock { running.count } }
}
