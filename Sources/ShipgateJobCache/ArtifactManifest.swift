import Foundation
import ShipgateCache
import ShipgateModel

/// The files a job published for the jobs that need it: `<run>/artifacts/<job>.json`.
public struct ArtifactManifest: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var job: String
    public var runID: String
    public var createdAt: Date
    /// How long `cache prune` keeps the artifacts' blobs, in milliseconds; nil: as long as the
    /// run directory exists.
    public var expireMs: Int64?
    public var files: [FileEntry]

    /// SHA-256 over the files (path, kind, mode, content digest), independent of run and time:
    /// what a job's artifacts contribute to the cache keys of the jobs that need it.
    public static func digest(of files: [FileEntry]) -> String {
        Digest.sha256(files.sorted { $0.path < $1.path }.map { "\($0.path)\u{0}\($0.kind.rawValue)\u{0}\($0.mode)\u{0}\($0.digest)\n" }.joined())
    }

    public init(job: String, runID: String, createdAt: Date, expireMs: Int64?, files: [FileEntry]) {
        self.job = job
        self.runID = runID
        self.createdAt = createdAt
        self.expireMs = expireMs
        self.files = files
    }
}

extension JSONEncoder {
    /// `JSONEncoder.cache`, pretty-printed: for files people read (manifests, decisions).
    public static var iso: JSONEncoder {
        let e = JSONEncoder.cache
        e.outputFormatting.insert(.prettyPrinted)
        return e
    }
}

extension JSONDecoder {
    public static var iso: JSONDecoder { .cache }
}
