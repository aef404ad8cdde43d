import Foundation
import ShipgateEngine
import ShipgateProcess
import ShipgateRelease
import ShipgateReport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs the console's rollbacks in this process, with the same library code as
/// `shipgate rollback` (`ManualRollback`): the trusted ref's rollback steps, the environment
/// lock, the audit entries before and after. `launch` decides (authorization, target) before it
/// returns, so a refusal reaches the user at once; the steps then run in the background, their
/// output in a log file, and the history page shows the outcome.
public final class RollbackLauncher: @unchecked Sendable {
    public struct Launched: Sendable {
        public var id: String
        public var environment: String
        public var target: String
        public var log: String?
    }

    let logDirectory: String?
    private let lock = NSLock()
    private var running: [String: Task<ManualRollback.Outcome, Never>] = [:]
    /// Rollbacks that ended before they were registered in `running`.
    private var endedEarly: Set<String> = []

    init(logDirectory: String?) {
        self.logDirectory = logDirectory
    }

    func launch(_ rollback: ManualRollback) async throws -> Launched {
        let prepared = try await rollback.prepare()
        let env = rollback.request.environment
        let id = "\(env)-\(Int(Date().timeIntervalSince1970))-\(Random.token(3))"
        var logPath: String?
        var sink: (any TextSink)?
        var logFD: Int32 = -1
        if let dir = logDirectory {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let path = dir + "/\(id).log"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            if fd >= 0 {
                logFD = fd
                sink = FileDescriptorSink(fd: fd)
                logPath = path
            }
        }
        let observer = PlainReporter(sink: sink ?? DiscardingSink())
        let finalSink = sink
        let task = Task { [weak self, logFD] in
            let outcome = await rollback.run(prepared, observer: observer, cancellation: CancellationToken())
            finalSink?.write(outcome.message + "\n")
            if logFD >= 0 { close(logFD) }
            self?.ended(id)
            return outcome
        }
        lock.withLock { if endedEarly.remove(id) == nil { running[id] = task } }
        return Launched(id: id, environment: env, target: prepared.target.release, log: logPath)
    }

    private func ended(_ id: String) {
        lock.withLock { if running.removeValue(forKey: id) == nil { endedEarly.insert(id) } }
    }

    /// Waits for every rollback this console started (for tests and shutdown).
    public func waitAll() async {
        let all = lock.withLock { Array(running.values) }
        for task in all { _ = await task.value }
    }

    public var active: Int { lock.withLock { running.count } }
}

/// Swallows output (a console without a state directory keeps no rollback logs).
private struct DiscardingSink: TextSink {
    func write(_ text: String) {}
}
