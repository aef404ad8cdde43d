import Foundation
import ShipgateEngine
import ShipgateState

/// Writes a run's jobs and failed attempts to the state store, off the executor's path.
///
/// Events are queued and a background writer stores everything queued so far in one
/// transaction, so a burst of finishing jobs costs one commit, not one per job. `flush()`
/// waits for the queue to drain (call it when the run ends). The per-job durable record is
/// the run directory's journal (`jobs.jsonl`, one `write(2)` per job); after a `kill -9`,
/// `resume` merges it with what reached the database.
public final class StateRecorder: RunObserver, @unchecked Sendable {
    let store: any StateStore
    let runID: String
    let warn: @Sendable (String) -> Void
    private let lock = NSLock()
    private var pendingJobs: [JobRow] = []
    private var pendingAttempts: [AttemptRow] = []
    private var scheduled = false
    private var warned = false
    private let queue = DispatchQueue(label: "shipgate.state-recorder")

    public init(store: any StateStore, runID: String, warn: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.runID = runID
        self.warn = warn
    }

    public func handle(_ event: RunEvent) {
        switch event {
        case .jobFinished(let r):
            enqueue(jobs: [
                JobRow(
                    runID: runID, id: r.id, status: r.status.rawValue, record: r.jsonLine, finishedAt: r.finishedAt.map(StateTime.string),
                    durationMs: r.durationMs)
            ])
        case .attemptFailed(let job, let attempt, let reason, _):
            enqueue(attempts: [AttemptRow(runID: runID, job: job, attempt: attempt, status: "failed", reason: reason, at: StateTime.string(Date()))])
        default: break
        }
    }

    private func enqueue(jobs: [JobRow] = [], attempts: [AttemptRow] = []) {
        let schedule = lock.withLock {
            pendingJobs += jobs
            pendingAttempts += attempts
            defer { scheduled = true }
            return !scheduled
        }
        if schedule { queue.async { self.drain() } }
    }

    private func drain() {
        let (jobs, attempts) = lock.withLock {
            defer {
                pendingJobs = []
                pendingAttempts = []
                scheduled = false
            }
            return (pendingJobs, pendingAttempts)
        }
        guard !jobs.isEmpty || !attempts.isEmpty else { return }
        do { try store.save(jobs: jobs, attempts: attempts) } catch {
            let first = lock.withLock {
                defer { warned = true }
                return !warned
            }
            if first { warn("cannot record the run in the state database: \(error)") }
        }
    }

    /// Waits until everything handled so far is stored.
    public func flush() {
        queue.sync {}
        drain()
    }

    /// Decodes a recorded job.
    public static func decode(_ row: JobRow) -> JobResult? {
        let d = JSONDecoder()
        d.dateDecodingStrategy = ISOTime.decoding
        return try? d.decode(JobResult.self, from: Data(row.record.utf8))
    }
}
