import Foundation

/// Bounds how long a `JobLog` line waits in its buffer: one thread for the whole process
/// wakes every `interval` while logs are open and flushes those holding a line older than
/// `JobLog.maxDelay`. A job that prints a line and then hangs still has that line on disk
/// within about a second, without a `write(2)` per line for jobs that print a lot.
///
/// Thread-safe. Logs are held weakly; a log removes itself when it is deallocated. The
/// thread sleeps on a condition while no log is open.
final class LogFlusher: @unchecked Sendable {
    static let shared = LogFlusher()

    private struct Entry {
        weak var log: JobLog?
    }

    private let condition = NSCondition()
    private var logs: [ObjectIdentifier: Entry] = [:]
    private var started = false
    /// How often the thread looks at the open logs.
    let interval = 0.25

    func add(_ log: JobLog) {
        condition.lock()
        logs[ObjectIdentifier(log)] = Entry(log: log)
        if !started {
            started = true
            let thread = Thread { [unowned self] in self.loop() }
            thread.name = "shipgate.log-flusher"
            thread.start()
        }
        condition.signal()
        condition.unlock()
    }

    func remove(_ log: JobLog) {
        condition.lock()
        logs[ObjectIdentifier(log)] = nil
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while logs.isEmpty { condition.wait() }
            let open = logs.values.compactMap(\.log)
            condition.unlock()
            let now = JobLog.monotonicSeconds()
            // A line written just after this pass is flushed by the next one: at most
            // maxDelay - interval old here, so flushing at that age keeps the bound.
            for log in open { log.flush(ifOlderThan: JobLog.maxDelay - interval, now: now) }
            Thread.sleep(forTimeInterval: interval)
        }
    }
}
