import Foundation
import ShipgateModel

/// Retention of `.shipgate/runs/<run-id>/` directories: the newest `keep` runs, and runs newer
/// than `maxAge`, stay; the others are removed.
///
/// Never removed, whatever the limits: a run that is still running (its shipgate is alive), a
/// blocked run (it waits for approvals and `resume`), the runs named in `protecting`, and the
/// newest successful full run of each branch (`when: changes` compares with it). Only run
/// directories go; the state store's records (history, approvals, audit) and the cache stay.
public enum RunRetention {
    public struct Outcome: Sendable, Equatable {
        /// Removed run ids, oldest first.
        public var removed: [String] = []
        public var kept = 0
        /// Bytes of the removed directories.
        public var freedBytes: Int64 = 0
    }

    /// `SHIPGATE_KEEP_RUNS`, else 50: the cap applied after each run. 0 keeps every run.
    public static func defaultKeep(environment: [String: String]) -> Int {
        environment["SHIPGATE_KEEP_RUNS"].flatMap { Int($0) }.map { max(0, $0) } ?? 50
    }

    /// Removes what the limits leave out (nil: no limit of that kind); with `dryRun`, only says
    /// what would go.
    public static func prune(
        runsDirectory: String, keep: Int?, maxAge: TimeSpan?, now: Date = Date(), protecting: Set<String> = [], dryRun: Bool = false
    ) -> Outcome {
        let fm = FileManager.default
        let ids = ((try? fm.contentsOfDirectory(atPath: runsDirectory)) ?? []).filter { !$0.hasPrefix(".") }.sorted(by: >)  // newest first
        var outcome = Outcome()
        // Nothing can go: no record is read (this runs after every run).
        if maxAge == nil, let keep, ids.count <= keep {
            outcome.kept = ids.count
            return outcome
        }
        var branchesWithBase = Set<String>()
        for (index, id) in ids.enumerated() {
            let path = runsDirectory + "/" + id
            let record = try? RunDirectory.readSummary(path)
            var pinned = protecting.contains(id)
            if let record {
                if record.status == .running { pinned = true }  // its shipgate is alive
                if record.status == .blocked { pinned = true }
                if record.status == .success && record.partial != true, let branch = record.git?["branch"], !branch.isEmpty {
                    if branchesWithBase.insert(branch).inserted { pinned = true }
                }
            }
            let started = record?.startedAt ?? ((try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? now
            let tooMany = keep.map { index >= $0 } ?? false
            let tooOld = maxAge.map { now.timeIntervalSince(started) * 1000 > Double($0.milliseconds) } ?? false
            guard !pinned, tooMany || tooOld else {
                outcome.kept += 1
                continue
            }
            let size = directorySize(path)
            if !dryRun {
                guard (try? fm.removeItem(atPath: path)) != nil else {
                    outcome.kept += 1
                    continue
                }
            }
            outcome.removed.insert(id, at: 0)
            outcome.freedBytes += size
        }
        return outcome
    }

    static func directorySize(_ path: String) -> Int64 {
        var total: Int64 = 0
        let enumerator = FileManager.default.enumerator(at: URL(fileURLWithPath: path), includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            if let values = try? url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey]), values.isRegularFile == true {
                total += Int64(values.fileSize ?? 0)
            }
        }
        return total
    }
}
