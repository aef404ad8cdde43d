import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The on-disk cache: content-addressed blobs and small JSON entries that point at them.
///
/// Layout under `root` (`.shipgate/cache`): `cas/ab/<sha256>` blobs (read-only), `ac/<key>.json`
/// job entries, `deps/<sha256 of key>.json` dependency-cache entries, `gha/` entries of
/// `@actions/cache`, `tmp/` for writes in
/// progress, `lock`.
///
/// Contract: every write is a temp file renamed into place, so readers see a whole file or
/// none, and two shipgate processes can share one cache (identical blobs have identical names).
/// Every blob read is verified against its name; a corrupt blob is deleted and reported.
/// Entries' modification times record their last use (LRU for `prune`). Thread-safe.
public final class LocalCache: @unchecked Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        for dir in ["cas", "ac", "deps", "gha", "tmp"] {
            do {
                try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
            } catch {
                throw CacheError.io("cannot create cache directory \(root)/\(dir): \(error.localizedDescription)")
            }
        }
    }

    public func blobPath(_ digest: String) -> String { "\(root)/cas/\(digest.prefix(2))/\(digest)" }

    public func hasBlob(_ digest: String) -> Bool { access(blobPath(digest), F_OK) == 0 }

    /// Copies `source` into the store as blob `digest`, verifying the bytes on the way.
    /// Does nothing when the blob exists. Throws `.noSpace` on a full disk.
    public func storeBlob(from source: String, digest: String) throws(CacheError) {
        if hasBlob(digest) { return }
        let final = blobPath(digest)
        let temp = tempPath()
        try Self.copyVerifying(from: source, to: temp, expected: digest, mode: 0o444, onMismatch: .io("\(source) changed while it was being stored"))
        try publish(temp, to: final)
    }

    public func storeBlob(data: [UInt8]) throws(CacheError) -> String {
        let digest = Digest.sha256(data)
        if hasBlob(digest) { return digest }
        let temp = tempPath()
        do { try AtomicFile.write(Data(data), to: temp, mode: 0o444) } catch { throw Self.classify(error, temp) }
        try publish(temp, to: blobPath(digest))
        return digest
    }

    /// Writes blob `digest` to `destination` (replacing it atomically) with permission `mode`,
    /// verifying the bytes. A blob that fails verification is deleted: `.corruptBlob`.
    public func restoreBlob(_ digest: String, to destination: String, mode: mode_t) throws(CacheError) {
        let source = blobPath(digest)
        guard access(source, F_OK) == 0 else { throw .missingBlob(digest: digest) }
        let temp = (destination as NSString).deletingLastPathComponent + "/.shipgate-restore-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        do {
            try Self.copyVerifying(from: source, to: temp, expected: digest, mode: mode, onMismatch: .corruptBlob(digest: digest))
        } catch .corruptBlob(let d) {
            unlink(source)
            throw .corruptBlob(digest: d)
        }
        if rename(temp, destination) != 0 {
            let e = errno
            unlink(temp)
            throw .io("cannot write \(destination): \(String(cString: strerror(e)))")
        }
    }

    /// Places blob `digest` at `destination` as a hard link, after verifying its bytes. Only for
    /// read-only files (blobs are 0444): sharing the inode is then safe, nobody can change it in
    /// place without first changing its mode. Returns false when linking is not possible (another
    /// file system); the caller then copies.
    public func linkBlob(_ digest: String, to destination: String) throws(CacheError) -> Bool {
        let source = blobPath(digest)
        guard let computed = try? Digest.file(source).digest else { throw .missingBlob(digest: digest) }
        guard computed == digest else {
            unlink(source)
            throw .corruptBlob(digest: digest)
        }
        let temp = (destination as NSString).deletingLastPathComponent + "/.shipgate-link-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        guard link(source, temp) == 0 else { return false }
        if rename(temp, destination) != 0 {
            let e = errno
            unlink(temp)
            throw .io("cannot write \(destination): \(String(cString: strerror(e)))")
        }
        return true
    }

    /// Reads blob `digest` whole, verified. For small blobs (entries fetched from a remote).
    public func readBlob(_ digest: String) throws(CacheError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: blobPath(digest)) else { throw .missingBlob(digest: digest) }
        let bytes = [UInt8](data)
        guard Digest.sha256(bytes) == digest else {
            unlink(blobPath(digest))
            throw .corruptBlob(digest: digest)
        }
        return bytes
    }

    public func removeBlob(_ digest: String) { unlink(blobPath(digest)) }

    // MARK: - Entries

    public enum Kind: String, Sendable {
        case action = "ac"
        case dependency = "deps"
        /// Entries of `@actions/cache` (the cache service of a workflow run).
        case actionsCache = "gha"
    }

    public func entryPath(_ kind: Kind, _ name: String) -> String { "\(root)/\(kind.rawValue)/\(name).json" }

    /// Decodes an entry and marks it used; nil when absent or unreadable (a damaged entry is removed).
    public func readEntry<T: Decodable>(_ kind: Kind, _ name: String, as: T.Type) -> T? {
        let path = entryPath(kind, name)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let value = try? JSONDecoder.cache.decode(T.self, from: data) else {
            unlink(path)
            return nil
        }
        utimes(path, nil)
        return value
    }

    public func hasEntry(_ kind: Kind, _ name: String) -> Bool { access(entryPath(kind, name), F_OK) == 0 }

    /// Marks an entry used without reading it; false when it is not there.
    public func touchEntry(_ kind: Kind, _ name: String) -> Bool { utimes(entryPath(kind, name), nil) == 0 }

    public func peekEntry<T: Decodable>(_ kind: Kind, _ name: String, as: T.Type) -> T? {
        guard let data = FileManager.default.contents(atPath: entryPath(kind, name)) else { return nil }
        return try? JSONDecoder.cache.decode(T.self, from: data)
    }

    public func writeEntry<T: Encodable>(_ kind: Kind, _ name: String, _ value: T) throws(CacheError) {
        let data: Data
        do { data = try JSONEncoder.cache.encode(value) } catch { throw .io("cannot encode cache entry: \(error)") }
        do { try AtomicFile.write(data, to: entryPath(kind, name)) } catch { throw Self.classify(error, entryPath(kind, name)) }
    }

    public func removeEntry(_ kind: Kind, _ name: String) { unlink(entryPath(kind, name)) }

    /// Entries of a kind with their last use and size.
    public func entries(_ kind: Kind) -> [(name: String, lastUsed: Date, bytes: Int64)] {
        let dir = "\(root)/\(kind.rawValue)"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter { $0.hasSuffix(".json") }.compactMap { file in
            var st = stat()
            guard stat(dir + "/" + file, &st) == 0 else { return nil }
            return (String(file.dropLast(5)), Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec)), Int64(st.st_size))
        }
    }

    /// Every blob with its size.
    public func blobs() -> [(digest: String, bytes: Int64)] {
        var out: [(String, Int64)] = []
        let cas = root + "/cas"
        for prefix in (try? FileManager.default.contentsOfDirectory(atPath: cas)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: cas + "/" + prefix)) ?? [] {
                var st = stat()
                if stat("\(cas)/\(prefix)/\(name)", &st) == 0 { out.append((name, Int64(st.st_size))) }
            }
        }
        return out
    }

    // MARK: - Locking

    /// Holds `lock` shared (runs) or exclusive (prune) until released. Blocks while the other
    /// kind is held. Released automatically if the process dies.
    public final class Lock: @unchecked Sendable {
        private let fd: Int32
        init(fd: Int32) { self.fd = fd }
        public func release() { close(fd) }
        deinit { close(fd) }
    }

    public func lock(exclusive: Bool) -> Lock? {
        let fd = open(root + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        while flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            if errno != EINTR {
                close(fd)
                return nil
            }
        }
        return Lock(fd: fd)
    }

    // MARK: - Internals

    func tempPath() -> String { "\(root)/tmp/\(getpid())-\(UInt64.random(in: 0..<UInt64.max))" }

    /// Renames a verified temp file (in `tmp/`) into place as blob `digest`.
    func publishBlob(_ temp: String, digest: String) throws(CacheError) { try publish(temp, to: blobPath(digest)) }

    private func publish(_ temp: String, to final: String) throws(CacheError) {
        let dir = (final as NSString).deletingLastPathComponent
        mkdir(dir, 0o755)
        if rename(temp, final) != 0 {
            let e = errno
            unlink(temp)
            throw .io("cannot store \(final): \(String(cString: strerror(e)))")
        }
    }

    static func classify(_ error: any Error, _ path: String) -> CacheError {
        if let e = error as? Digest.FileError, e.errno == ENOSPC || e.errno == EDQUOT { return .noSpace(path) }
        if let e = error as? CacheError { return e }
        return .io("\(path): \(error)")
    }

    /// Copies with a running SHA-256; the destination is removed unless the digest matches.
    static func copyVerifying(from source: String, to destination: String, expected: String, mode: mode_t, onMismatch: CacheError) throws(CacheError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .io("cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            let e = errno
            throw e == ENOSPC ? .noSpace(destination) : .io("cannot write \(destination): \(String(cString: strerror(e)))")
        }
        var hasher = Crypto.SHA256()
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        var failure: CacheError?
        loop: while true {
            let n = read(input, buffer.baseAddress, size)
            if n < 0 {
                if errno == EINTR { continue }
                failure = .io("cannot read \(source): \(String(cString: strerror(errno)))")
                break
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            var offset = 0
            while offset < n {
                let w = write(output, buffer.baseAddress! + offset, n - offset)
                if w < 0 {
                    if errno == EINTR { continue }
                    failure =
                        errno == ENOSPC || errno == EDQUOT ? .noSpace(destination) : .io("cannot write \(destination): \(String(cString: strerror(errno)))")
                    break loop
                }
                offset += w
            }
        }
        if failure == nil, fchmod(output, mode) != 0 { failure = .io("cannot set mode of \(destination)") }
        close(output)
        if failure == nil, Digest.hex(hasher.finalize()) != expected { failure = onMismatch }
        if let failure {
            unlink(destination)
            throw failure
        }
    }
}

extension JSONEncoder {
    /// Sorted keys, unescaped slashes, ISO-8601 dates: how shipgate writes its JSON files.
    public static var cache: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }
}

extension JSONDecoder {
    public static var cache: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
