import Foundation
import ShipgateCache

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The entries `@actions/cache` saves, kept in shipgate's cache: the archive as a
/// content-addressed blob (`cas/`), the entry (`gha/<sha256 of scope, key, version>.json`)
/// pointing at it.
///
/// Contract (GitHub's cache service, as the toolkit sees it):
/// - An entry is (scope, key, version) → archive; it is written once (a second reservation of
///   the same triple is refused) and never changes.
/// - Restore takes the keys in order (the primary key, then the restore keys); for each, an
///   entry of the same scope and version whose key equals it, else the newest whose key
///   starts with it; the first key that finds one wins.
/// - An upload is reserved, written in chunks at their offsets (in parallel, in any order),
///   then committed with its size; only a committed entry is found. A reservation that is
///   never committed leaves nothing behind when the service stops.
/// Thread-safe.
public final class ActionsCacheStore: @unchecked Sendable {
    public struct Entry: Codable, Sendable, Equatable {
        public var scope: String
        public var key: String
        public var version: String
        public var blob: String
        public var size: Int64
        public var created: Date
    }

    struct Reservation {
        var scope: String
        var key: String
        var version: String
        var path: String
    }

    let cache: LocalCache
    private let lock = NSLock()
    private var reservations: [Int: Reservation] = [:]
    private var nextID = 1
    /// Uploads in progress (removed when the service stops).
    let uploads: String

    /// When an entry was made (the newest prefix match wins).
    let now: @Sendable () -> Date

    public init(cache: LocalCache, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.cache = cache
        self.now = now
        uploads = cache.root + "/tmp/actions-cache-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: cache.root + "/" + LocalCache.Kind.actionsCache.rawValue, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
    }

    deinit { removeUploads() }

    /// Removes the uploads in progress (when the service stops).
    public func removeUploads() { try? FileManager.default.removeItem(atPath: uploads) }

    static func name(scope: String, key: String, version: String) -> String { Digest.sha256(Array("\(scope)\n\(key)\n\(version)".utf8)) }

    /// The entry restore finds for `keys` (see the contract), or nil.
    /// As GitHub looks up: the whole lookup (exact key, then prefixes, key by key) in the first
    /// scope, then in the next.
    public func find(in scopes: [String], keys: [String], version: String) -> Entry? {
        scopes.lazy.compactMap { self.find(scope: $0, keys: keys, version: version) }.first
    }

    public func find(scope: String, keys: [String], version: String) -> Entry? {
        let all = cache.entries(.actionsCache).compactMap { cache.peekEntry(.actionsCache, $0.name, as: Entry.self) }.filter {
            $0.scope == scope && $0.version == version
        }
        for key in keys where !key.isEmpty {
            if let exact = all.first(where: { $0.key == key }) { return touched(exact) }
            if let newest = all.filter({ $0.key.hasPrefix(key) }).max(by: { $0.created < $1.created }) { return touched(newest) }
        }
        return nil
    }

    private func touched(_ entry: Entry) -> Entry {
        _ = cache.touchEntry(.actionsCache, Self.name(scope: entry.scope, key: entry.key, version: entry.version))
        return entry
    }

    public enum ReserveError: Error, Equatable {
        case exists
        case tooLarge
    }

    public static let maxSize: Int64 = 10 << 30

    /// Starts an upload; its id (never 0).
    public func reserve(scope: String, key: String, version: String, size: Int64?) throws(ReserveError) -> Int {
        if let size, size > Self.maxSize { throw .tooLarge }
        if cache.hasEntry(.actionsCache, Self.name(scope: scope, key: key, version: version)) { throw .exists }
        lock.lock()
        defer { lock.unlock() }
        if reservations.values.contains(where: { $0.scope == scope && $0.key == key && $0.version == version }) { throw .exists }
        let id = nextID
        nextID += 1
        let path = "\(uploads)/\(id)"
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        reservations[id] = Reservation(scope: scope, key: key, version: version, path: path)
        return id
    }

    /// The file an upload's chunks are written into, or nil for an unknown id.
    public func uploadPath(_ id: Int) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return reservations[id]?.path
    }

    /// Writes a chunk at `offset` of upload `id`; false for an unknown id or a write error.
    public func write(_ id: Int, offset: Int64, bytes: UnsafeRawBufferPointer) -> Bool {
        let (end, overflow) = offset.addingReportingOverflow(Int64(bytes.count))
        guard let path = uploadPath(id), offset >= 0, !overflow, end <= Self.maxSize else { return false }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    public enum CommitError: Error, Equatable {
        case unknown
        case sizeMismatch(expected: Int64, actual: Int64)
        case store(String)
    }

    /// Ends upload `id`: the file must have `size` bytes; it becomes a blob and the entry.
    public func commit(_ id: Int, size: Int64) throws(CommitError) -> Entry {
        lock.lock()
        let reservation = reservations.removeValue(forKey: id)
        lock.unlock()
        guard let reservation else { throw .unknown }
        defer { unlink(reservation.path) }
        var st = stat()
        guard stat(reservation.path, &st) == 0 else { throw .unknown }
        guard Int64(st.st_size) == size else { throw .sizeMismatch(expected: size, actual: Int64(st.st_size)) }
        do {
            let digest = try Digest.file(reservation.path).digest
            try cache.storeBlob(from: reservation.path, digest: digest)
            let entry = Entry(scope: reservation.scope, key: reservation.key, version: reservation.version, blob: digest, size: size, created: now())
            try cache.writeEntry(.actionsCache, Self.name(scope: reservation.scope, key: reservation.key, version: reservation.version), entry)
            return entry
        } catch {
            throw .store("\(error)")
        }
    }

    /// The archive blob `digest`, when an entry of one of `scopes` (nil: any) names it: a client
    /// sees only the archives it may restore, whatever else the content-addressed store holds.
    public func blobPath(_ digest: String, scopes: [String]? = nil) -> String? {
        guard digest.utf8.count == 64, digest.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }), cache.hasBlob(digest) else {
            return nil
        }
        if let scopes {
            let named = cache.entries(.actionsCache).contains {
                cache.peekEntry(.actionsCache, $0.name, as: Entry.self).map { scopes.contains($0.scope) && $0.blob == digest } ?? false
            }
            guard named else { return nil }
        }
        return cache.blobPath(digest)
    }
}
