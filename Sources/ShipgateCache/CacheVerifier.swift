import Foundation

/// What `shipgate cache verify` found.
public struct CacheVerification: Sendable, Equatable {
    public var blobs = 0
    public var entries = 0
    /// Human-readable problems; empty means every blob and entry is sound.
    public var problems: [String] = []
}

extension LocalCache {
    /// Checks every blob against its name (its SHA-256) and every job and dependency entry:
    /// it must decode and every blob it names must be present. Reads everything; changes
    /// nothing (a damaged blob or entry is reported, not removed).
    public func verify() -> CacheVerification {
        var result = CacheVerification()
        for blob in blobs() {
            result.blobs += 1
            guard let data = FileManager.default.contents(atPath: blobPath(blob.digest)) else {
                result.problems.append("blob \(blob.digest.prefix(16))…: unreadable")
                continue
            }
            if Digest.sha256([UInt8](data)) != blob.digest {
                result.problems.append("blob \(blob.digest.prefix(16))…: its content does not match its digest (corrupt)")
            }
        }
        func check<T: Decodable>(_ kind: Kind, _ type: T.Type, digests: (T) -> Set<String>) {
            for e in entries(kind) {
                result.entries += 1
                guard let data = FileManager.default.contents(atPath: entryPath(kind, e.name)),
                    let value = try? JSONDecoder.cache.decode(T.self, from: data)
                else {
                    result.problems.append("\(kind.rawValue)/\(e.name).json: not a valid entry")
                    continue
                }
                let missing = digests(value).filter { !hasBlob($0) }
                if !missing.isEmpty {
                    result.problems.append("\(kind.rawValue)/\(e.name).json: \(missing.count) of its blobs are missing")
                }
            }
        }
        check(.action, ActionEntry.self) { $0.digests }
        check(.dependency, DependencyEntry.self) { $0.digests }
        return result
    }
}
