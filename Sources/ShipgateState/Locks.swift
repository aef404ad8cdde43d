import Foundation
import GRDB

/// A named lock in the state store: `concurrency` of an environment. Held by a process; a
/// lock whose process is gone (same host) is taken over, and the caller is told.
public struct LockRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "locks"
    public var name: String
    public var runID: String
    public var job: String
    public var actor: String
    public var pid: Int64
    public var host: String
    public var acquiredAt: String

    public init(
        name: String, runID: String, job: String, actor: String, pid: Int64 = Int64(getpid()), host: String = ProcessLiveness.host,
        acquiredAt: String
    ) {
        self.name = name
        self.runID = runID
        self.job = job
        self.actor = actor
        self.pid = pid
        self.host = host
        self.acquiredAt = acquiredAt
    }
}

public enum LockAttempt: Sendable, Equatable {
    /// Taken; `stale` is the dead holder it replaced, if any.
    case acquired(stale: LockRow?)
    case held(by: LockRow)
}

extension SQLiteStateStore {
    /// Tries each of `names` (the slots of one lock) once; never waits.
    public func tryLock(_ names: [String], holder: LockRow) async throws -> LockAttempt {
        try write { db in
            var holders: [LockRow] = []
            for name in names {
                if let current = try LockRow.fetchOne(db, key: name) {
                    if ProcessLiveness.isAlive(pid: current.pid, host: current.host) {
                        holders.append(current)
                        continue
                    }
                    var mine = holder
                    mine.name = name
                    try mine.insert(db, onConflict: .replace)
                    return .acquired(stale: current)
                }
                var mine = holder
                mine.name = name
                try mine.insert(db)
                return .acquired(stale: nil)
            }
            return .held(by: holders.first!)
        }
    }

    /// Releases the slot this process holds for `runID`/`job`, if any.
    public func unlock(_ names: [String], runID: String, job: String) async throws {
        try write { db in
            for name in names {
                try db.execute(
                    sql: "DELETE FROM locks WHERE name = ? AND runID = ? AND job = ? AND pid = ? AND host = ?",
                    arguments: [name, runID, job, Int64(getpid()), ProcessLiveness.host])
            }
        }
    }

    public func locks() async throws -> [LockRow] { try read { db in try LockRow.fetchAll(db) } }
}
