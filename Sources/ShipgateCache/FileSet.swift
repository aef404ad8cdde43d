import Foundation
import ShipgateModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Moves sets of workspace files into the cache and back.
///
/// Contract:
/// - `collect` stores every file the filter selects and returns its manifest. A symlink is
///   kept as a link; one that points outside the workspace is refused (`.unsafePath`).
/// - `restore` writes a manifest into a directory. Every path is checked first (`SafePath`),
///   no parent directory may be a symlink (so a hostile manifest cannot write elsewhere),
///   and every file's bytes are verified. Files already present with the same digest and mode
///   are left alone, which makes restoring an unchanged tree nearly free. Read-only files
///   (mode 0444) are hard links to their blob, verified first; everything else is copied.
public struct FileSet: Sendable {
    public let cache: LocalCache
    public let statCache: StatCache

    public init(cache: LocalCache, statCache: StatCache) {
        self.cache = cache
        self.statCache = statCache
    }

    public func collect(root: String, filter: PathFilter, skip: Set<String>) throws(CacheError) -> [FileEntry] {
        let walker = FileWalker(root: root, skip: skip)
        var entries: [FileEntry] = []
        for path in walker.files(matching: filter) {
            let full = root + "/" + path
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            let mode = UInt32(st.st_mode & 0o7777)
            if (st.st_mode & S_IFMT) == S_IFLNK {
                let target: String
                do { target = try Digest.linkTarget(full) } catch { throw .io(error.description) }
                guard SafePath.linkStaysInside(linkPath: path, target: target) else {
                    throw .unsafePath(path, reason: "it is a symlink to `\(target)`, outside the workspace")
                }
                entries.append(FileEntry(path: path, kind: .symlink, mode: mode, size: 0, digest: Digest.sha256("symlink:" + target), target: target))
                continue
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let digest: String
            do { digest = try statCache.digest(root: root, relative: path) } catch { throw .io("\(error)") }
            try cache.storeBlob(from: full, digest: digest)
            entries.append(FileEntry(path: path, kind: .file, mode: mode, size: Int64(st.st_size), digest: digest))
        }
        return entries
    }

    /// Writes `entries` under `root`; returns how many files were actually written.
    @discardableResult
    public func restore(_ entries: [FileEntry], into root: String) throws(CacheError) -> Int {
        var written = 0
        for entry in entries {
            if let problem = SafePath.problem(entry.path) { throw .unsafePath(entry.path, reason: problem) }
            try makeParents(of: entry.path, under: root)
            let full = root + "/" + entry.path
            switch entry.kind {
            case .symlink:
                guard let target = entry.target, SafePath.linkStaysInside(linkPath: entry.path, target: target) else {
                    throw .unsafePath(entry.path, reason: "symlink target `\(entry.target ?? "")` is outside the directory")
                }
                if let current = try? Digest.linkTarget(full), current == target { continue }
                removeExisting(full)
                guard symlink(target, full) == 0 else { throw .io("cannot create symlink \(full): \(String(cString: strerror(errno)))") }
                written += 1
            case .file:
                var st = stat()
                if lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, UInt32(st.st_mode & 0o7777) == entry.mode,
                    (try? statCache.digest(root: root, relative: entry.path)) == entry.digest
                {
                    continue
                }
                if lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                    throw .io("cannot restore \(entry.path): a directory is in the way")
                }
                // Read-only files share the blob's inode (no copy); others get a verified copy.
                if entry.mode & 0o7777 == 0o444, try cache.linkBlob(entry.digest, to: full) {
                    written += 1
                    continue
                }
                try cache.restoreBlob(entry.digest, to: full, mode: mode_t(entry.mode & 0o7777))
                written += 1
            }
        }
        return written
    }

    /// Creates the parent directories of `path`, refusing any that exists as a symlink.
    private func makeParents(of path: String, under root: String) throws(CacheError) {
        var current = root
        for part in path.split(separator: "/").dropLast() {
            current += "/" + part
            var st = stat()
            if lstat(current, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFLNK { throw .unsafePath(path, reason: "`\(part)` is a symlink") }
                if (st.st_mode & S_IFMT) != S_IFDIR { throw .io("cannot restore \(path): `\(current)` is not a directory") }
            } else if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw errno == ENOSPC ? .noSpace(current) : .io("cannot create \(current): \(String(cString: strerror(errno)))")
            }
        }
    }

    private func removeExisting(_ path: String) {
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR { unlink(path) }
    }
}
