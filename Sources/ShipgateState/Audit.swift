import Crypto
import Foundation
import GRDB
import ShipgateModel

/// One entry of the audit log. `hash` commits to the previous entry's hash and to every field
/// of this one, so editing, inserting or deleting an entry breaks the chain from there on.
public struct AuditRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "audit"
    public var seq: Int64
    public var at: String
    /// `gate`, `approve`, `reject`, `deploy`, `verify`, `rollback`, `break-glass`, `lock`, …
    public var kind: String
    public var actor: String
    public var environment: String?
    public var runID: String?
    /// A JSON object with the facts of the event.
    public var detail: String
    public var prevHash: String
    public var hash: String

    public init(seq: Int64, at: String, kind: String, actor: String, environment: String?, runID: String?, detail: String, prevHash: String, hash: String) {
        self.seq = seq
        self.at = at
        self.kind = kind
        self.actor = actor
        self.environment = environment
        self.runID = runID
        self.detail = detail
        self.prevHash = prevHash
        self.hash = hash
    }

    /// The genesis value of `prevHash`.
    public static let genesis = String(repeating: "0", count: 64)

    /// SHA-256 over the previous hash and the fields, each length-prefixed so no two
    /// different entries can produce the same bytes.
    public static func hash(seq: Int64, at: String, kind: String, actor: String, environment: String?, runID: String?, detail: String, prevHash: String)
        -> String
    {
        var text = "shipgate-audit-1\n"
        for field in [String(seq), at, kind, actor, environment ?? "\u{0}", runID ?? "\u{0}", detail, prevHash] {
            text += "\(field.utf8.count):\(field)\n"
        }
        return Hex.string(SHA256.hash(data: Data(text.utf8)))
    }

    /// The entry that follows `last` (nil: the first entry), hashed and linked.
    public static func next(after last: AuditRow?, kind: String, actor: String, environment: String?, runID: String?, detail: String, at: Date) -> AuditRow {
        let seq = (last?.seq ?? 0) + 1
        let prev = last?.hash ?? genesis
        let time = StateTime.string(at)
        return AuditRow(
            seq: seq, at: time, kind: kind, actor: actor, environment: environment, runID: runID, detail: detail, prevHash: prev,
            hash: hash(seq: seq, at: time, kind: kind, actor: actor, environment: environment, runID: runID, detail: detail, prevHash: prev))
    }

    public var expectedHash: String {
        Self.hash(seq: seq, at: at, kind: kind, actor: actor, environment: environment, runID: runID, detail: detail, prevHash: prevHash)
    }
}

/// An entry to append: the store numbers, times and hashes it (`AuditRow.next`).
public struct AuditEvent: Sendable, Equatable {
    public var kind: String
    public var actor: String
    public var environment: String?
    public var runID: String?
    /// The facts, written as canonical JSON.
    public var detail: [String: String]
    public var at: Date

    public init(kind: String, actor: String, environment: String? = nil, runID: String? = nil, detail: [String: String], at: Date = Date()) {
        self.kind = kind
        self.actor = actor
        self.environment = environment
        self.runID = runID
        self.detail = detail
        self.at = at
    }

    /// The row that follows `last` in the chain.
    public func row(after last: AuditRow?) -> AuditRow {
        AuditRow.next(after: last, kind: kind, actor: actor, environment: environment, runID: runID, detail: StateText.canonicalJSON(detail), at: at)
    }
}

/// What `audit verify` found.
public struct AuditVerification: Sendable, Equatable {
    public var entries: Int
    public var head: String
    /// Human-readable problems; empty means the chain is intact.
    public var problems: [String]

    public init(entries: Int, head: String, problems: [String]) {
        self.entries = entries
        self.head = head
        self.problems = problems
    }
}

extension SQLiteStateStore {
    /// Appends an entry to the chain in one transaction (serialized with every other writer).
    public func appendAudit(kind: String, actor: String, environment: String?, runID: String?, detail detailText: String, at: Date) async throws -> AuditRow {
        try write { db in
            let last = try AuditRow.order(Column("seq").desc).fetchOne(db)
            let row = AuditRow.next(after: last, kind: kind, actor: actor, environment: environment, runID: runID, detail: detailText, at: at)
            try row.insert(db)
            return row
        }
    }

    public func importAudit(_ rows: [AuditRow]) async throws {
        try write { db in
            guard try AuditRow.fetchCount(db) == 0 else { throw StateError.database("the audit log is not empty; refusing to import into it") }
            for row in rows { try row.insert(db) }
        }
    }

    /// Entries after `afterSeq`, oldest first, optionally of one environment.
    public func auditEntries(environment: String?, afterSeq: Int64) async throws -> [AuditRow] {
        try read { db in
            var q = AuditRow.filter(Column("seq") > afterSeq)
            if let environment { q = q.filter(Column("environment") == environment) }
            return try q.order(Column("seq")).fetchAll(db)
        }
    }

    public func latestAudit(limit: Int, environment: String?) async throws -> [AuditRow] {
        try read { db in
            var q = AuditRow.all()
            if let environment { q = q.filter(Column("environment") == environment) }
            return try q.order(Column("seq").desc).limit(limit).fetchAll(db)
        }
    }
}

/// JSON text the stores write: canonical objects (sorted keys) and string arrays.
public enum StateText {
    /// Sorted keys, no whitespace, strings escaped as JSON: the same bytes for the same facts.
    public static func canonicalJSON(_ object: [String: String]) -> String {
        "{" + object.sorted { $0.key < $1.key }.map { JSONObject.quote($0.key) + ":" + JSONObject.quote($0.value) }.joined(separator: ",") + "}"
    }

    public static func jsonArray(_ values: [String]) -> String { JSONObject.array(values) }

    public static func parseJSONArray(_ text: String?) -> [String] {
        guard let text, let data = text.data(using: .utf8), let list = try? JSONDecoder().decode([String].self, from: data) else { return [] }
        return list
    }
}

extension StateStore {
    /// Appends an entry with `detail` as canonical JSON.
    @discardableResult
    public func audit(
        kind: String, actor: String, environment: String? = nil, runID: String? = nil, detail: [String: String], at: Date = Date()
    ) async throws -> AuditRow {
        try await appendAudit(kind: kind, actor: actor, environment: environment, runID: runID, detail: StateText.canonicalJSON(detail), at: at)
    }

    public func auditEntries() async throws -> [AuditRow] { try await auditEntries(environment: nil) }

    /// Walks the whole chain: each entry's hash must match its fields, link to the previous
    /// entry's hash, and sequence numbers must have no gap. A deleted tail can only be seen
    /// against a head recorded elsewhere (`expectedHead`).
    public func verifyAudit(expectedHead: String? = nil) async throws -> AuditVerification {
        await AuditVerifier.verify(try auditEntries(environment: nil), expectedHead: expectedHead)
    }

}

/// Checks an audit chain (all entries, oldest first): each entry's hash must match its fields,
/// link to the previous entry's hash, and sequence numbers must have no gap. A deleted tail can
/// only be seen against a head recorded elsewhere (`expectedHead`).
public enum AuditVerifier {
    /// `after`: the entry before `rows` (verified earlier), to check a continuation of the chain.
    public static func verify(_ rows: [AuditRow], after: AuditRow? = nil, expectedHead: String? = nil) -> AuditVerification {
        var problems: [String] = []
        var prev = after?.hash ?? AuditRow.genesis
        var expectedSeq: Int64 = (after?.seq ?? 0) + 1
        for row in rows {
            if row.seq != expectedSeq {
                problems.append(
                    "entry \(row.seq): expected entry \(expectedSeq) here; \(row.seq > expectedSeq ? "entries were deleted" : "entries are out of order")")
            }
            if row.prevHash != prev {
                problems.append("entry \(row.seq): does not link to the entry before it (an entry before it was edited, inserted or deleted)")
            }
            if row.hash != row.expectedHash {
                problems.append("entry \(row.seq) (\(row.kind) at \(row.at)): its content does not match its hash (edited)")
            }
            prev = row.hash
            expectedSeq = row.seq + 1
        }
        // A head that is in the chain but not last is fine: entries were appended since.
        if let expectedHead, !rows.contains(where: { $0.hash == expectedHead }) {
            problems.append("the recorded head \(expectedHead.prefix(12))… is not in the chain: entries at the end were deleted or replaced")
        }
        return AuditVerification(entries: rows.count, head: prev, problems: problems)
    }
}
