import Foundation
import ShipgateCache
import ShipgateModel

/// Moves job-cache entries between the local cache and a remote one.
///
/// Contract: an upload sends every blob first, then the entry, so a reader never finds an entry
/// whose blobs are not there yet. A download verifies every blob's digest before keeping it and
/// keeps the entry locally only when all its blobs are present. Nothing here fails a run: each
/// problem comes back as a `Problem` for the caller to report.
public struct RemoteEntries: Sendable {
    public let remote: RemoteCache
    public let local: LocalCache

    public enum Problem: Equatable, Sendable {
        /// The remote cannot be reached or refused the request (warn once per run).
        case unavailable(String)
        /// This entry is unusable; the job runs (warn for the job).
        case entry(String)
    }

    public init(remote: RemoteCache, local: LocalCache) {
        self.remote = remote
        self.local = local
    }

    /// Sends the entry's blobs the remote lacks (`HEAD` first), then the entry.
    public func upload(_ entry: ActionEntry) async -> Problem? {
        let digests = entry.digests.sorted()
        guard digests.allSatisfy(local.hasBlob) else { return nil }
        if let reason = await remote.sendBlobs(digests, from: local).problem { return .unavailable(reason) }
        guard let data = try? JSONEncoder.iso.encode(entry) else { return nil }
        if case .unavailable(let reason) = await remote.putDocument(.entries, entry.key, Array(data)) { return .unavailable(reason) }
        return nil
    }

    /// The entry for `key` with its blobs kept locally, or nil (a miss, or the problem).
    public func fetch(_ key: String) async -> (ActionEntry?, Problem?) {
        switch await remote.document(.entries, key) {
        case .miss: return (nil, nil)
        case .unavailable(let reason): return (nil, .unavailable(reason))
        case .hit(let data):
            guard let entry = try? JSONDecoder.iso.decode(ActionEntry.self, from: Data(data)), entry.key == key else {
                return (nil, .entry("remote cache entry \(key.prefix(12))… is not a shipgate entry; ignored"))
            }
            if let (digest, failure) = await remote.fetchBlobs(Array(entry.digests).sorted(), into: local) {
                switch failure {
                case .wrongBytes:
                    return (nil, .entry("remote cache returned wrong bytes for blob \(digest.prefix(12))…; ignored it and running the job"))
                case .local(let reason): return (nil, .entry("cannot keep a remote blob locally: \(reason)"))
                case .unavailable(let reason): return (nil, .unavailable(reason))
                case .miss, .stored: return (nil, .entry("remote cache is missing blob \(digest.prefix(12))…; running the job"))
                }
            }
            try? local.writeEntry(.action, key, entry)
            return (entry, nil)
        }
    }
}
