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
/// - `collect` stores every file the filter selects and returns its manifest. A symlink is kept
///   as a link only when it resolves to a regular file that is itself collected, so the bytes a
///   reader of the link gets are bound by that file's own entry (a link's digest binds only its
///   text). Each link is resolved physically against the workspace: every component in turn, the
///   link itself, chains of links and links in intermediate directories, `..` taking the physical
///   parent, at most `LinkChain.maxHops` links. A link is refused (`.unsafePath`, naming the link
///   and where it resolves) when any step leaves the workspace (absolute target or `..` past the
///   root), when it loops, when it ends at a directory or at nothing, or when it ends at a file
///   that is not collected. The manifest must also pass the restore check below, so what is
///   stored can be restored and means the same there.
/// - `restore` writes a manifest into a directory. Nothing is written unless the whole manifest is
///   sound: every path is checked first (`SafePath`), and every symlink entry must resolve through
///   the manifest's own entries (links among them followed, directories being the parents of
///   entries) to a `.file` entry, without leaving the directory or looping. No parent directory
///   may be a symlink (so a hostile manifest cannot write elsewhere), and every file's bytes are
///   verified. Files already present with the same digest and mode are left alone, which makes
///   restoring an unchanged tree nearly free. Read-only files (mode 0444) are hard links to their
///   blob, verified first; everything else is copied.
/// - With `links: .verbatim` (dependency caches, as actions/cache's tar), both directions keep
///   every symlink as the text it holds, whatever it points at (absolute, into the workspace,
///   dangling, a directory): `collect` never follows or checks one, and `restore` recreates it as
///   is. What stays is the rule that makes restoring safe: no entry is written below a symlink
///   (no parent directory may be one, existing or restored), so a restore never writes through
///   a link, and `SafePath` keeps every entry inside the directory.
public struct FileSet: Sendable {
    /// How symlinks are kept: resolved and bound to collected files (job outputs, artifacts),
    /// or stored as links whatever they point at (dependency caches).
    public enum LinkPolicy: Sendable {
        case resolved
        case verbatim
    }

    public let cache: LocalCache
    public let statCache: StatCache

    public init(cache: LocalCache, statCache: StatCache) {
        self.cache = cache
        self.statCache = statCache
    }

    public func collect(root: String, filter: PathFilter, skip: Set<String>, links: LinkPolicy = .resolved) throws(CacheError) -> [FileEntry] {
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
                entries.append(FileEntry(path: path, kind: .symlink, mode: mode, size: 0, digest: Digest.sha256("symlink:" + target), target: target))
                continue
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let digest: String
            do { digest = try statCache.digest(root: root, relative: path) } catch { throw .io("\(error)") }
            try cache.storeBlob(from: full, digest: digest)
            entries.append(FileEntry(path: path, kind: .file, mode: mode, size: Int64(st.st_size), digest: digest))
        }
        if links == .verbatim { return entries }
        // Links are checked once every collected file is known: each must end at one of them.
        let files = Set(entries.filter { $0.kind == .file }.map(\.path))
        for link in entries where link.kind == .symlink {
            let chain = LinkChain.resolve(link.path, root: root) { Self.diskNode(root + "/" + $0) }
            if case .file(let path) = chain.end, !files.contains(path) {
                throw .unsafePath(
                    link.path,
                    reason: "it is a symlink that points to `\(path)`\(LinkChain.via(chain.through)), which is not among the collected files: "
                        + "the digest would not bind what it reads; add it to the paths or copy the file")
            }
            if let problem = LinkChain.problem(link.target ?? "", chain, scope: "the workspace", absent: "which does not exist") {
                throw .unsafePath(link.path, reason: problem)
            }
        }
        try Self.checkLinks(entries, root: root, scope: "the workspace", absent: "which is not among the collected files, so the stored link would not resolve")
        return entries
    }

    /// Writes `entries` under `root`; returns how many files were actually written.
    @discardableResult
    public func restore(_ entries: [FileEntry], into root: String, links: LinkPolicy = .resolved) throws(CacheError) -> Int {
        for entry in entries {
            if let problem = SafePath.problem(entry.path) { throw .unsafePath(entry.path, reason: problem) }
            if links == .verbatim, entry.kind == .symlink, entry.target?.isEmpty ?? true {
                throw .unsafePath(entry.path, reason: "symlink entry without a target")
            }
        }
        if links == .resolved {
            try Self.checkLinks(entries, root: root, scope: "the directory", absent: "which is not a file of the manifest")
        } else {
            // Checked before anything is written: no entry may lie below a link of the manifest.
            let linkPaths = Set(entries.filter { $0.kind == .symlink }.map { Substring($0.path) })
            for entry in entries {
                var path = Substring(entry.path)
                while let slash = path.lastIndex(of: "/") {
                    path = path[..<slash]
                    if linkPaths.contains(path) { throw .unsafePath(entry.path, reason: "`\(path)` is a symlink of the same entry") }
                }
            }
        }
        var written = 0
        for entry in entries {
            try makeParents(of: entry.path, under: root)
            let full = root + "/" + entry.path
            switch entry.kind {
            case .symlink:
                let target = entry.target ?? ""  // checked by `checkLinks`
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

    /// Refuses any symlink entry of `entries` whose chain, resolved through the entries alone
    /// (the parents of entries being directories, nothing else existing), does not end at a
    /// `.file` entry. `absent` says why a missing step is a problem, for the message.
    private static func checkLinks(_ entries: [FileEntry], root: String, scope: String, absent: String) throws(CacheError) {
        let byPath = Dictionary(entries.map { ($0.path, $0) }, uniquingKeysWith: { _, last in last })
        var directories: Set<Substring> = []
        for entry in entries {
            var path = Substring(entry.path)
            while let slash = path.lastIndex(of: "/") {
                path = path[..<slash]
                if !directories.insert(path).inserted { break }  // its parents are in already
            }
        }
        for link in entries where link.kind == .symlink {
            guard let target = link.target else { throw .unsafePath(link.path, reason: "symlink entry without a target") }
            let chain = LinkChain.resolve(link.path, root: root) { path in
                if let entry = byPath[path] { return entry.kind == .file ? .file : .symlink(entry.target ?? "") }
                return directories.contains(Substring(path)) ? .directory : .missing
            }
            if let problem = LinkChain.problem(target, chain, scope: scope, absent: absent) {
                throw .unsafePath(link.path, reason: problem)
            }
        }
    }

    /// What is at `full` on disk, without following a final symlink.
    private static func diskNode(_ full: String) -> LinkChain.Node {
        var st = stat()
        guard lstat(full, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFLNK: return (try? Digest.linkTarget(full)).map { .symlink($0) } ?? .missing
        default: return .file
        }
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

/// Resolution of a symlink the way the kernel does it, over any view of a tree (the disk for
/// `collect`, a manifest for `restore`), never looking beyond the tree's root.
enum LinkChain {
    /// What a normalized relative path names, without following a final symlink. `.file` is
    /// anything that is neither a directory nor a link.
    enum Node {
        case file, directory, missing
        case symlink(String)
    }

    /// Where a chain ends: a file or directory (normalized relative paths, `""` being the root),
    /// nothing (the lexical path that was not found), outside the root (absolute), or a loop.
    enum End: Equatable {
        case file(String)
        case directory(String)
        case missing(String)
        case outside(String)
        case loop
    }

    /// Links followed before a chain is taken for a loop (as the kernel's `MAXSYMLINKS`).
    static let maxHops = 40

    /// Follows the symlink at `link` (a normalized path relative to `root`) component by
    /// component: every symlink met, `link` itself, the links its target names and links in
    /// intermediate directories, is replaced by its target, and `..` takes the parent of what
    /// was resolved so far. Stops as soon as a step leaves the root. `through` lists the links
    /// followed other than `link`, in order.
    static func resolve(_ link: String, root: String, node: (String) -> Node) -> (end: End, through: [String]) {
        var done: [String] = []  // resolved so far: directories under the root, no links
        var pending = link.split(separator: "/").reversed().map(String.init)  // next component last
        var through: [String] = []
        var hops = 0
        func rest() -> String { (done + pending.reversed()).joined(separator: "/") }
        while let part = pending.popLast() {
            if part == "." { continue }
            if part == ".." {
                if done.isEmpty { return (.outside(normalized(root + "/../" + pending.reversed().joined(separator: "/"))), through) }
                done.removeLast()
                continue
            }
            done.append(part)
            let path = done.joined(separator: "/")
            switch node(path) {
            case .directory: continue
            case .file: return (pending.isEmpty ? .file(path) : .missing(rest()), through)
            case .missing: return (.missing(rest()), through)
            case .symlink(let target):
                hops += 1
                if path != link && !through.contains(path) { through.append(path) }
                if hops > maxHops { return (.loop, through) }
                done.removeLast()
                if target.hasPrefix("/") { return (.outside(normalized(([target] + pending.reversed()).joined(separator: "/"))), through) }
                pending += target.split(separator: "/").reversed().map(String.init)
            }
        }
        return (.directory(done.joined(separator: "/")), through)
    }

    /// Why a link with text `target` that resolved to `chain` may not be kept, or nil when it
    /// ends at a file. `scope` names the root ("the workspace"); `absent` ends the message for
    /// a chain that ends at nothing.
    static func problem(_ target: String, _ chain: (end: End, through: [String]), scope: String, absent: String) -> String? {
        let via = via(chain.through)
        switch chain.end {
        case .file: return nil
        case .outside where chain.through.isEmpty: return "it is a symlink to `\(target)`, outside \(scope)"
        case .outside(let place): return "it is a symlink that resolves to `\(place)`\(via), outside \(scope)"
        case .loop: return "it is a symlink that does not resolve: more than \(maxHops) links followed\(via), a loop"
        case .directory(let path): return "it is a symlink to the directory `\(path.isEmpty ? "." : path)`\(via); only links to collected files are kept"
        case .missing(let path): return "it is a symlink that resolves to `\(path)`\(via), \(absent)"
        }
    }

    /// ` (through `a`, `b`)` for the links a chain went through, or nothing.
    static func via(_ through: [String]) -> String {
        through.isEmpty ? "" : " (through " + through.map { "`\($0)`" }.joined(separator: ", ") + ")"
    }

    /// `path` (absolute) with `.`, `..` and empty components removed, lexically.
    private static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }
}
