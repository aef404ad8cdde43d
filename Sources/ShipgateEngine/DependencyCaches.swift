import Foundation
import ShipgateCache
import ShipgateModel
import ShipgatePlanning

/// `caches:` — directories kept between runs by a key the user chooses (like actions/cache).
/// Entries are `deps/<sha256 of key>.json` in the local cache; the remote cache is not used.
extension JobExecutor {
    struct PendingSave {
        var key: String
        var cache: DependencyCache
    }

    /// Restores every dependency cache (exact key, else the newest entry whose key starts with a
    /// restore key) and returns those whose exact key missed, to be saved after success.
    func restoreDependencyCaches(_ job: PlannedJob, needed: [String: JobResult], cache: CacheContext) -> [PendingSave] {
        var missed: [PendingSave] = []
        for dc in job.dependencyCaches {
            let key: String
            let restoreKeys: [String]
            do {
                key = try resolveNow(dc.key, needed: needed)
                restoreKeys = try dc.restoreKeys.map { try resolveNow($0, needed: needed) }
            } catch {
                notice(job.id, .warning, "cache skipped: \(error)")
                continue
            }
            if let entry = cache.local.readEntry(.dependency, Digest.sha256(key), as: DependencyEntry.self) {
                restore(entry, job: job, cache: cache, message: "cache `\(key)`: restored (\(entry.files.count) files)")
                continue
            }
            missed.append(PendingSave(key: key, cache: dc))
            let candidates = cache.local.entries(.dependency).compactMap { cache.local.peekEntry(.dependency, $0.name, as: DependencyEntry.self) }
            var restored = false
            for prefix in restoreKeys {
                if let best = candidates.filter({ $0.key.hasPrefix(prefix) }).max(by: { $0.createdAt < $1.createdAt }) {
                    restore(best, job: job, cache: cache, message: "cache `\(key)`: not found; restored `\(best.key)` (restore key `\(prefix)`)")
                    restored = true
                    break
                }
            }
            if !restored { notice(job.id, .info, "cache `\(key)`: not found; it will be saved if the job succeeds") }
        }
        return missed
    }

    private func restore(_ entry: DependencyEntry, job: PlannedJob, cache: CacheContext, message: String) {
        do {
            try cache.files.restore(entry.files, into: options.workspace)
            cache.invalidateTree()
            notice(job.id, .info, message)
        } catch {
            notice(job.id, .warning, "cache `\(entry.key)` could not be restored: \(error)")
        }
    }

    func saveDependencyCaches(_ job: PlannedJob, missed: [PendingSave], cache: CacheContext) {
        for pending in missed {
            do {
                let files = try cache.files.collect(
                    root: options.workspace, filter: PathFilter(pending.cache.paths.map(\.value)), skip: cache.skip)
                try cache.local.writeEntry(.dependency, Digest.sha256(pending.key), DependencyEntry(key: pending.key, createdAt: Date(), files: files))
                notice(job.id, .info, "cache `\(pending.key)`: saved \(files.count) files (\(Self.bytes(files.reduce(0) { $0 + $1.size })))")
            } catch {
                notice(job.id, .warning, "cache `\(pending.key)` not saved: \(error)")
            }
        }
    }

    /// Resolves needs outputs and `hashFiles` in a template, now.
    func resolveNow(_ template: Template, needed: [String: JobResult]) throws -> String {
        try CacheContext.resolve(template, outputs: needed.mapValues(\.outputs), cache: cache)
    }
}
