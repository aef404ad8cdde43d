import Foundation
import ShipgateEngine
import ShipgateState

/// Writes a run's jobs and failed attempts to the state store as the events arrive, one
/// transaction each, so a `kill -9` loses nothing that finished.
public final class StateRecorder: RunObserver, @unchecked Sendable {
    let store: StateStore
    let runID: String
    private let lock = NSLock()
    private var warned = false
    let warn: @Sendable (String) -> Void

    public init(store: StateStore, runID: String, warn: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.runID = runID
        self.warn = warn
    }

    public func handle(_ event: RunEvent) {
        do {
            switch event {
            case .jobFinished(let r):
                try store.saveJob(
                    JobRow(runID: runID, id: r.id, status: r.status.rawValue, record: r.jsonLine, finishedAt: r.finishedAt.map(StateTime.string)))
            case .attemptFailed(let job, let attempt, let reason, _):
                try store.saveAttempt(AttemptRow(runID: runID, job: job, attempt: attempt, status: "failed", reason: reason, at: StateTime.string(Date())))
            default: break
            }
        } catch {
            let first = lock.withLock {
                defer { warned = true }
                return !warned
            }
            if first { warn("cannot record the run in the state database: \(error)") }
        }
    }

    /// Decodes a recorded job.
    public static func decode(_ row: JobRow) -> JobResult? {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try? d.decode(JobResult.self, from: Data(row.record.utf8))
    }
}
