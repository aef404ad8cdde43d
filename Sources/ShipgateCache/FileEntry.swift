/// One file of a stored set (job outputs, artifacts, a dependency cache): where it goes, what
/// it is, and the blob that holds its bytes.
public struct FileEntry: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case file
        case symlink
    }

    /// Workspace-relative, `/`-separated.
    public var path: String
    public var kind: Kind
    /// Permission bits (`0o755`, …).
    public var mode: UInt32
    public var size: Int64
    /// SHA-256 of the content (files) or of `symlink:` + target (links).
    public var digest: String
    /// Link target, for symlinks.
    public var target: String?

    public init(path: String, kind: Kind, mode: UInt32, size: Int64, digest: String, target: String? = nil) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.size = size
        self.digest = digest
        self.target = target
    }
}

/// Problems with stored data or with paths; each says what and where.
public enum CacheError: Error, CustomStringConvertible, Equatable {
    /// A blob's bytes do not hash to its name: it was removed and must be treated as a miss.
    case corruptBlob(digest: String)
    case missingBlob(digest: String)
    /// A path that would leave the directory it belongs to (`..`, absolute, through a symlink).
    case unsafePath(String, reason: String)
    case io(String)
    case noSpace(String)

    public var description: String {
        switch self {
        case .corruptBlob(let d): "cache blob \(d.prefix(12))… is corrupt (its content does not match its digest); removed it"
        case .missingBlob(let d): "cache blob \(d.prefix(12))… is missing"
        case .unsafePath(let p, let reason): "refusing path `\(p)`: \(reason)"
        case .io(let m): m
        case .noSpace(let m): "no space left on device: \(m)"
        }
    }
}

/// Rules for relative paths read from manifests and patterns. Where a symlink may point is
/// decided by resolving it (`FileSet`, `LinkChain`), not by its text alone.
public enum SafePath {
    /// Why `path` may not be used as a relative path inside a directory, or nil when it may.
    public static func problem(_ path: String) -> String? {
        if path.isEmpty { return "empty path" }
        if path.hasPrefix("/") { return "absolute path" }
        if path.utf8.contains(0) { return "NUL in path" }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains("..") { return "`..` leaves the directory" }
        if parts.contains("") || parts.contains(".") { return "not a normalized relative path" }
        return nil
    }
}
