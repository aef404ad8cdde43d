import Foundation
import ShipgateCache
import ShipgateModel

/// Shrinks the local cache: entries older than `maxAge`, then least recently used entries
/// until the blobs they reference fit in `maxBytes`, then every blob no remaining entry and no
/// unexpired run artifact references (mark and sweep). Run it holding the cache's exclusive lock.
public struct CachePruner {
    public let cache: LocalCache
    public let runsDirectory: String
    /// Blobs that must survive whatever their age: the artifacts of retained releases.
    public let retained: Set<String>

    public init(cache: LocalCache, runsDirectory: String, retained: Set<String> = []) {
        self.cache = cache
        self.runsDirectory = runsDirectory
        self.retained = retained
    }

    public struct Report: Equatable {
        public var entriesRemoved = 0
        public var blobsRemoved = 0
        public var bytesFreed: Int64 = 0
        public var bytesKept: Int64 = 0
    }

    public func prune(maxBytes: Int64?, maxAge: TimeSpan?, now: Date) -> Report {
        var report = Report()
        let blobSizes = Dictionary(cache.blobs().map { ($0.digest, $0.bytes) }, uniquingKeysWith: { a, _ in a })
        struct Live {
            var kind: LocalCache.Kind
            var name: String
            var lastUsed: Date
            var digests: Set<String>
        }
        var live: [Live] = []
        struct BlobEntry: Decodable { var blob: String }
        for kind in [LocalCache.Kind.action, .dependency, .actionsCache] {
            for e in cache.entries(kind) {
                let digests: Set<String>
                if kind == .action {
                    digests = cache.peekEntry(kind, e.name, as: ActionEntry.self)?.digests ?? []
                } else if kind == .actionsCache {
                    digests = cache.peekEntry(kind, e.name, as: BlobEntry.self).map { [$0.blob] } ?? []
                } else {
                    digests = cache.peekEntry(kind, e.name, as: DependencyEntry.self)?.digests ?? []
                }
                live.append(Live(kind: kind, name: e.name, lastUsed: e.lastUsed, digests: digests))
            }
        }
        func remove(_ entry: Live) {
            cache.removeEntry(entry.kind, entry.name)
            report.entriesRemoved += 1
        }
        if let maxAge {
            let cutoff = now.addingTimeInterval(-Double(maxAge.milliseconds) / 1000)
            for e in live where e.lastUsed < cutoff { remove(e) }
            live.removeAll { $0.lastUsed < cutoff }
        }
        let pinned = artifactDigests(now: now).union(retained)
        if let maxBytes {
            live.sort { $0.lastUsed > $1.lastUsed }  // newest first; drop from the end
            func used() -> Int64 { Set(live.flatMap(\.digests)).union(pinned).reduce(0) { $0 + (blobSizes[$1] ?? 0) } }
            while !live.isEmpty && used() > maxBytes { remove(live.removeLast()) }
        }
        // Temp files of writes that never finished (a killed run) after an hour.
        let tmp = cache.root + "/tmp"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] {
            let path = tmp + "/" + name
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, now.timeIntervalSince(modified) > 3600 {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        let referenced = Set(live.flatMap(\.digests)).union(pinned)
        for (digest, bytes) in blobSizes {
            if referenced.contains(digest) {
                report.bytesKept += bytes
            } else {
                cache.removeBlob(digest)
                report.blobsRemoved += 1
                report.bytesFreed += bytes
            }
        }
        return report
    }

    /// Blobs of run artifacts that have not expired (artifacts without `expire` never do).
    private func artifactDigests(now: Date) -> Set<String> {
        var digests = Set<String>()
        for run in (try? FileManager.default.contentsOfDirectory(atPath: runsDirectory)) ?? [] {
            let dir = runsDirectory + "/" + run + "/artifacts"
            for file in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                guard let data = FileManager.default.contents(atPath: dir + "/" + file),
                    let m = try? JSONDecoder.iso.decode(ArtifactManifest.self, from: data)
                else { continue }
                if let ms = m.expireMs, m.createdAt.addingTimeInterval(Double(ms) / 1000) < now { continue }
                digests.formUnion(m.files.filter { $0.kind == .file }.map(\.digest))
            }
        }
        return digests
    }
}
