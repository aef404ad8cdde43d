import Foundation
import ShipgateState

/// The audit chain's verification, for the audit page: re-verified when the log has grown, and
/// at most every `maxAge` seconds otherwise, so a page never walks the whole chain twice in a row.
final class AuditCheck: @unchecked Sendable {
    struct Result: Sendable {
        var verification: AuditVerification
        var at: Date
        var entries: [AuditRow]
    }

    let maxAge: TimeInterval = 30
    private let lock = NSLock()
    private var last: Result?

    /// The chain's entries (oldest first) and its verification.
    func check(_ store: any StateStore, now: Date) throws -> Result {
        let rows = try store.auditEntries(environment: nil)
        if let last = lock.withLock({ last }), last.entries.count == rows.count, last.entries.last == rows.last, now.timeIntervalSince(last.at) < maxAge {
            return Result(verification: last.verification, at: last.at, entries: rows)
        }
        let verification = AuditVerifier.verify(rows)
        let result = Result(verification: verification, at: now, entries: rows)
        lock.withLock { last = result }
        return result
    }
}
