import CLibgit2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The git index of a repository, read once: for a tracked file whose stat data still match
/// its index entry, the file's blob id is known without reading it.
///
/// Contract: `blobID` answers only when size, mtime, ctime, inode and mode equal the entry's
/// and the file is not "racily clean" (modified in the same second the index was written,
/// git's own rule); otherwise nil, and the caller hashes the file. Immutable and thread-safe.
public final class IndexSnapshot: Sendable {
    struct Entry: Sendable {
        var oid: String
        var size: UInt32
        var mtime: (Int32, UInt32)
        var ctime: (Int32, UInt32)
        var inode: UInt32
        var mode: UInt32
    }

    private let entries: [String: Entry]
    /// Workspace-relative path → repository-relative prefix (`services/api/` when the
    /// workspace is a subdirectory).
    private let prefix: String
    private let root: String
    private let indexMtime: Int64

    public var count: Int { entries.count }

    /// The index of the repository holding `workspace`; nil outside a repository.
    public init?(workspace: String) {
        guard let repository = try? Repository.discover(at: workspace) else { return nil }
        var index: OpaquePointer?
        guard git_repository_index(&index, repository.pointer) == 0, let index else { return nil }
        defer { git_index_free(index) }
        var map: [String: Entry] = [:]
        let n = git_index_entrycount(index)
        map.reserveCapacity(n)
        for i in 0..<n {
            guard let e = git_index_get_byindex(index, i)?.pointee, let path = e.path else { continue }
            map[String(cString: path)] = Entry(
                oid: Commit.hex(e.id), size: e.file_size, mtime: (e.mtime.seconds, e.mtime.nanoseconds),
                ctime: (e.ctime.seconds, e.ctime.nanoseconds), inode: e.ino, mode: e.mode)
        }
        entries = map
        root = repository.workdir
        let workspacePath = workspace.hasSuffix("/") ? String(workspace.dropLast()) : workspace
        prefix = workspacePath.count > repository.workdir.count ? String(workspacePath.dropFirst(repository.workdir.count + 1)) + "/" : ""
        var st = stat()
        let indexPath = (git_repository_path(repository.pointer).map { String(cString: $0) } ?? root + "/.git/") + "index"
        indexMtime = stat(indexPath, &st) == 0 ? Int64(st.st_mtim.tv_sec) : Int64.max
    }

    /// The blob id of a workspace-relative file when the index vouches for it, else nil.
    public func blobID(_ relative: String) -> String? {
        guard let e = entries[prefix + relative] else { return nil }
        var st = stat()
        guard lstat(root + "/" + prefix + relative, &st) == 0 else { return nil }
        // Racily clean: written in the second the index was, so equal stat data prove nothing.
        guard Int64(st.st_mtim.tv_sec) < indexMtime else { return nil }
        guard UInt32(truncatingIfNeeded: st.st_size) == e.size, Int32(truncatingIfNeeded: st.st_mtim.tv_sec) == e.mtime.0,
            UInt32(truncatingIfNeeded: st.st_mtim.tv_nsec) == e.mtime.1, Int32(truncatingIfNeeded: st.st_ctim.tv_sec) == e.ctime.0,
            UInt32(truncatingIfNeeded: st.st_ctim.tv_nsec) == e.ctime.1, UInt32(truncatingIfNeeded: st.st_ino) == e.inode
        else { return nil }
        // Mode must agree on file type and the executable bit (what git records).
        let isLink = (st.st_mode & S_IFMT) == S_IFLNK
        let isExec = (st.st_mode & 0o111) != 0
        switch e.mode {
        case 0o120000: guard isLink else { return nil }
        case 0o100755: guard !isLink && isExec else { return nil }
        case 0o100644: guard !isLink && !isExec else { return nil }
        default: return nil
        }
        return e.oid
    }
}
