import Foundation
import ShipgateState

/// The audit chain's verification, for the audit page and API.
///
/// The whole chain is verified once, then each check only verifies the entries appended since
/// (linked to the last verified entry), so a page costs one small query however long the log
/// is. Every `maxAge` seconds the whole chain is verified again in the background, which
/// catches an entry edited in the middle; the page says when that last happened.
final class AuditCheck: @unchecked Sendable {
    struct Result: Sendable {
        var verification: AuditVerification
        /// When the whole chain was last verified.
        var at: Date
        /// The last entry verified.
        var head: AuditRow?
    }

    let maxAge: TimeInterval
    private let lock = NSLock()
    private var state: Result?
    private var refreshing = false

    init(maxAge: TimeInterval = 30) { self.maxAge = maxAge }

    func check(_ store: any StateStore, now: Date) async throws -> Result {
        guard let known = lock.withLock({ state }) else { return try await full(store, now: now) }
        let appended = try await store.auditEntries(environment: nil, afterSeq: known.head?.seq ?? 0)
        var result = known
        if !appended.isEmpty {
            let v = AuditVerifier.verify(appended, after: known.head)
            result.verification = AuditVerification(
                entries: known.verification.entries + v.entries, head: v.head, problems: known.verification.problems + v.problems)
            result.head = appended.last
            lock.withLock { if state?.head?.seq ?? 0 < result.head?.seq ?? 0 { state = result } }
        }
        if now.timeIntervalSince(known.at) > maxAge {
            let start = lock.withLock {
                defer { refreshing = true }
                return !refreshing
            }
            if start {
                Task {
                    _ = try? await self.full(store, now: Date())
                    self.lock.withLock { self.refreshing = false }
                }
            }
        }
        return result
    }

    /// Verifies the whole chain and remembers the result.
    @discardableResult
    func full(_ store: any StateStore, now: Date) async throws -> Result {
        let rows = try await store.auditEntries(environment: nil)
        let result = Result(verification: AuditVerifier.verify(rows), at: now, head: rows.last)
        lock.withLock { state = result }
        return result
    }
}
