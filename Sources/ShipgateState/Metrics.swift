import Foundation
import GRDB

/// Aggregates over the whole store, for the console's `/metrics`: computed by the database
/// (counts grouped in SQL), so a scrape costs a few queries however many runs are stored.
public struct StateMetrics: Sendable, Equatable {
    public var runsByStatus: [String: Int] = [:]
    public var jobsByStatus: [String: Int] = [:]
    /// Durations of jobs that ran (success or failed), in milliseconds.
    public var jobDurationsMs: [Int64] = []
    public var gatesByStatus: [String: Int] = [:]
    public var deploymentsByStatus: [String: Int] = [:]
    /// Releases that were rollbacks (automatic or by hand).
    public var rollbacks = 0
    /// Gates still blocked, and when the oldest of them asked.
    public var pendingApprovals = 0
    public var oldestPendingAt: String?

    public init() {}

    /// `status|count` rows for each grouped table; the same SQL runs on SQLite and PostgreSQL.
    nonisolated(unsafe) static let groupedQueries: [(WritableKeyPath<StateMetrics, [String: Int]>, String)] = [
        (\.runsByStatus, "SELECT status || '|' || COUNT(*) FROM runs GROUP BY status"),
        (\.jobsByStatus, "SELECT status || '|' || COUNT(*) FROM jobs GROUP BY status"),
        (\.gatesByStatus, "SELECT status || '|' || COUNT(*) FROM gates GROUP BY status"),
        (\.deploymentsByStatus, "SELECT status || '|' || COUNT(*) FROM deployments GROUP BY status"),
    ]
    static let durationsQuery =
        "SELECT CAST(\"durationMs\" AS TEXT) FROM jobs WHERE status IN ('success', 'failed') AND \"durationMs\" IS NOT NULL"
    static let rollbackQuery = "SELECT CAST(COUNT(*) AS TEXT) FROM deployments WHERE \"rollbackOf\" IS NOT NULL"
    static let pendingQuery = "SELECT CAST(COUNT(*) AS TEXT) || '|' || COALESCE(MIN(\"requestedAt\"), '') FROM gates WHERE status = 'blocked'"

    /// Every statement `collect` runs (a store that cannot answer synchronously runs them first).
    package static var queries: [String] { groupedQueries.map(\.1) + [rollbackQuery, pendingQuery, durationsQuery] }

    /// Builds the value from the queries' text results; `query` runs one SQL statement and
    /// returns its first column as text.
    package static func collect(query: (String) throws -> [String?]) throws -> StateMetrics {
        var m = StateMetrics()
        for (path, sql) in groupedQueries {
            for line in try query(sql).compactMap({ $0 }) {
                guard let bar = line.lastIndex(of: "|"), let n = Int(line[line.index(after: bar)...]) else { continue }
                m[keyPath: path][String(line[..<bar]), default: 0] += n
            }
        }
        m.rollbacks = Int(try query(rollbackQuery).first.flatMap { $0 } ?? "0") ?? 0
        if let pending = try query(pendingQuery).first.flatMap({ $0 }), let bar = pending.firstIndex(of: "|") {
            m.pendingApprovals = Int(pending[..<bar]) ?? 0
            let at = String(pending[pending.index(after: bar)...])
            m.oldestPendingAt = at.isEmpty ? nil : at
        }
        m.jobDurationsMs = try query(durationsQuery).compactMap { $0.flatMap { Int64($0) } }
        return m
    }
}

extension SQLiteStateStore {
    public func metrics() async throws -> StateMetrics {
        try read { db in
            try StateMetrics.collect { sql in try String?.fetchAll(db, sql: sql) }
        }
    }
}
