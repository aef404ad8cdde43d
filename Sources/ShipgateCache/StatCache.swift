import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Remembers file digests by (size, mtime in ns, inode, ctime), so unchanged files are not
/// read again. Stored as `stat.tsv` in the cache directory.
///
/// Contract: a digest is reused only when all four stat fields are equal. Entries for files
/// modified less than `racyWindow` before they were hashed are not kept, so a write in the same
/// timestamp tick as the hash is never missed (git's "racy clean" problem). Thread-safe;
/// `save` writes atomically and only when something changed.
public final class StatCache: @unchecked Sendable {
    struct Entry: Equatable {
        var size: Int64
        var mtime: Int64
        var ctime: Int64
        var inode: UInt64
        var digest: String
    }

    public let path: String?
    /// How a file is identified: SHA-256 of its content (outputs), or its git blob id (inputs).
    private let hasher: @Sendable (String) throws -> String
    private var entries: [String: Entry] = [:]
    private var dirty = false
    private let lock = NSLockish()
    private let racyWindowNs: Int64

    /// Loads `path` when it exists; nil `path` keeps the cache in memory only. Files changed
    /// (mtime or ctime) less than `racyWindow` seconds before hashing are not remembered.
    public init(path: String?, racyWindow: Double = 2, hasher: @escaping @Sendable (String) throws -> String = { try Digest.file($0).digest }) {
        self.path = path
        self.hasher = hasher
        racyWindowNs = Int64(racyWindow * 1e9)
        guard let path, let data = FileManager.default.contents(atPath: path) else { return }
        data.withUnsafeBytes { raw in Self.parse(raw.bindMemory(to: UInt8.self), into: &entries) }
    }

    /// The digest of `relative` (under `root`), from the cache when the file is unchanged.
    public func digest(root: String, relative: String) throws -> String {
        let full = root + "/" + relative
        var st = stat()
        guard lstat(full, &st) == 0 else { throw Digest.FileError(path: full, errno: errno) }
        let key = Entry(
            size: Int64(st.st_size), mtime: Self.ns(st.st_mtim), ctime: Self.ns(st.st_ctim), inode: UInt64(st.st_ino), digest: "")
        if let hit = lock.withLock({ entries[relative] }), hit.size == key.size, hit.mtime == key.mtime, hit.ctime == key.ctime, hit.inode == key.inode {
            return hit.digest
        }
        let digest = try hasher(full)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        if Self.ns(now) - max(key.mtime, key.ctime) >= racyWindowNs {
            var entry = key
            entry.digest = digest
            lock.withLock {
                entries[relative] = entry
                dirty = true
            }
        }
        return digest
    }

    public func save() {
        guard let path else { return }
        let snapshot: [String: Entry]? = lock.withLock {
            guard dirty else { return nil }
            dirty = false
            return entries
        }
        guard let snapshot else { return }
        var text = ""
        text.reserveCapacity(snapshot.count * 120)
        for (p, e) in snapshot where !p.contains("\n") && !p.contains("\t") {
            text += "\(e.digest)\t\(e.size)\t\(e.mtime)\t\(e.ctime)\t\(e.inode)\t\(p)\n"
        }
        try? AtomicFile.write(Data(text.utf8), to: path)
    }

    /// Parses `digest TAB size TAB mtime TAB ctime TAB inode TAB path` lines; bad lines are skipped.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, into entries: inout [String: Entry]) {
        var i = 0
        let n = bytes.count
        entries.reserveCapacity(n / 110)
        while i < n {
            var fields: [Range<Int>] = []
            var start = i
            while i < n && bytes[i] != 10 {
                if bytes[i] == 9 && fields.count < 5 {
                    fields.append(start..<i)
                    start = i + 1
                }
                i += 1
            }
            fields.append(start..<i)
            i += 1
            guard fields.count == 6, fields[0].count == 64 || fields[0].count == 40 else { continue }
            func number(_ r: Range<Int>) -> Int64? {
                guard !r.isEmpty else { return nil }
                var v: Int64 = 0
                for k in r {
                    let d = bytes[k] &- 48
                    guard d < 10 else { return nil }
                    v = v &* 10 &+ Int64(d)
                }
                return v
            }
            guard let size = number(fields[1]), let mtime = number(fields[2]), let ctime = number(fields[3]), let inode = number(fields[4]) else { continue }
            let text = { (r: Range<Int>) in String(decoding: UnsafeBufferPointer(rebasing: bytes[r]), as: UTF8.self) }
            entries[text(fields[5])] = Entry(size: size, mtime: mtime, ctime: ctime, inode: UInt64(inode), digest: text(fields[0]))
        }
    }

    static func ns(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }
}

/// Writes a file so that readers see the old content or the new, never a torn one.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Digest.FileError(path: temp, errno: errno) }
        var ok = true
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    return
                }
                offset += n
            }
        }
        let writeErrno = errno
        close(fd)
        guard ok else {
            unlink(temp)
            throw Digest.FileError(path: path, errno: writeErrno)
        }
        if rename(temp, path) != 0 {
            let e = errno
            unlink(temp)
            throw Digest.FileError(path: path, errno: e)
        }
    }
}
