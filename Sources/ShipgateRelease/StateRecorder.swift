import Foundation
import ShipgateEngine
import ShipgateState

/// Writes a run's jobs and failed attempts to the state store, off the executor's path.
///
/// Events are queued and a background task stores everything queued so far in one
/// transaction, so a burst of finishing jobs costs one commit, not one per job. `flush()`
/// waits for the queue to drain (call it when the run ends). The per-job durable record is
/// the run directory's journal (`jobs.jsonl`, one `write(2)` per job); after a `kill -9`,
/// `resume` merges it with what reached the database.
public final class StateRecorder: RunObserver, @unchecked Sendable {
    let store: any StateStore
    let runID: String
    let warn: @Sendable (String) -> Void
    private let lock = NSLock()
    /// Encoded on the writer's queue, not the executor's.
    private var pendingJobs: [JobResult] = []
    private var pendingAttempts: [AttemptRow] = []
    private var scheduled = false
    private var warned = false
    /// The writes, one after another: each waits for the one before.
    private var last: Task<Void, Never>?
    static let batchDelay: Duration = .milliseconds(50)

    public init(store: any StateStore, runID: String, warn: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.runID = runID
        self.warn = warn
    }

    public func handle(_ event: RunEvent) {
        switch event {
        case .jobFinished(let r):
            enqueue(jobs: [r])
        case .attemptFailed(let job, let attempt, let reason, _):
            enqueue(attempts: [AttemptRow(runID: runID, job: job, attempt: attempt, status: "failed", reason: reason, at: StateTime.string(Date()))])
        default: break
        }
    }

    private func enqueue(jobs: [JobResult] = [], attempts: [AttemptRow] = []) {
        let schedule = lock.withLock {
            pendingJobs += jobs
            pendingAttempts += attempts
            defer { scheduled = true }
            return !scheduled
        }
        // Batched: one transaction per `batchDelay` rather than one per job (a commit costs far
        // more than a row). The run's journal, not this table, is what survives `kill -9`.
        if schedule { _ = write(after: Self.batchDelay) }
    }

    /// Queues a drain behind the writes already queued.
    private func write(after delay: Duration?) -> Task<Void, Never> {
        lock.withLock {
            let previous = last
            let task = Task {
                await previous?.value
                if let delay { try? await Task.sleep(for: delay) }
                await self.drain()
            }
            last = task
            return task
        }
    }

    private func drain() async {
        let (jobs, attempts) = lock.withLock {
            defer {
                pendingJobs = []
                pendingAttempts = []
                scheduled = false
            }
            return (pendingJobs, pendingAttempts)
        }
        guard !jobs.isEmpty || !attempts.isEmpty else { return }
        let rows = jobs.map { r in
            JobRow(
                runID: runID, id: r.id, status: r.status.rawValue, record: r.jsonLine, finishedAt: r.finishedAt.map(StateTime.string),
                durationMs: r.durationMs)
        }
        do { try await store.save(jobs: rows, attempts: attempts) } catch {
            let first = lock.withLock {
                defer { warned = true }
                return !warned
            }
            if first { warn("cannot record the run in the state database: \(error)") }
        }
    }

    /// Whether a write to the store failed (the store may miss jobs of this run).
    public var failed: Bool { lock.withLock { warned } }

    /// Waits until everything handled so far is stored.
    public func flush() async {
        await write(after: nil).value
    }

    /// Decodes a recorded job.
    public static func decode(_ row: JobRow) -> JobResult? {
        let d = JSONDecoder()
        d.dateDecodingStrategy = ISOTime.decoding
        return try? d.decode(JobResult.self, from: Data(row.record.utf8))
    }
}
