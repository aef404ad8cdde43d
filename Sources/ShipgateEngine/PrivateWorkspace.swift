import CShipgatePosix
import Foundation
import ShipgateCache
import ShipgateModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The copy of the workspace a job with `isolation: { workspace: private }` runs in.
///
/// Contract:
/// - It holds the files the job would see in the workspace: every file `inputs: ["**"]` lists
///   (git-ignored files and the state directory left out, so no `.venv`, `.tox` or
///   `node_modules` is shared), plus the `extra` paths the caller adds (the declared outputs of
///   the jobs it needs, its own ignored inputs). Empty directories are not copied.
/// - Regular files are copied (a reflink where the file system can, else `copy_file_range`),
///   never hard-linked: nothing the job writes reaches the workspace. Modes and modification
///   times are kept, symlinks are copied as links.
/// - When the workspace is a repository's root, its `.git` comes along (objects, which git never
///   rewrites, hard-linked; the rest copied), so git in the copy sees the same commit, branch,
///   index and local changes, and a commit made there stays there.
/// - It lives at `<state>/workspaces/<id>`, with `<id>.lock` held (`flock`) while it exists.
///   `remove()` deletes it; `sweep` deletes copies whose lock no process holds (left by a
///   shipgate that was killed).
final class PrivateWorkspace: Sendable {
    let root: String
    private let lockFD: Int32

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private init(root: String, lockFD: Int32) {
        self.root = root
        self.lockFD = lockFD
    }

    /// Copies `files` (workspace-relative, as listed) and `.git` of `workspace` into a new
    /// directory under `directory`.
    static func create(from workspace: String, files: [String], in directory: String) throws(Failure) -> PrivateWorkspace {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let id = UUID().uuidString.lowercased()
        let root = directory + "/" + id
        let lockFD = open(root + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0, flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            if lockFD >= 0 { close(lockFD) }
            throw Failure(description: "cannot create \(root).lock: \(String(cString: strerror(errno)))")
        }
        let copy = PrivateWorkspace(root: root, lockFD: lockFD)
        do {
            var copier = TreeCopier(source: workspace, target: root)
            try copier.makeDirectory("")
            for file in files { try copier.copy(file) }
            if isDirectory(workspace + "/.git") { try copier.copyTree(".git", linking: { $0.hasPrefix(".git/objects/") }) }
        } catch {
            copy.remove()
            throw error
        }
        return copy
    }

    /// Copies the files of the copy `filter` matches into `workspace`, each replacing the file
    /// there (unlinked first, so a read-only file hard-linked from the cache is never written
    /// through). Returns how many. A parent that is not a directory in `workspace` (a symlink
    /// among them) is an error: nothing is written through a link.
    func copyBack(matching filter: PathFilter, into workspace: String) throws(Failure) -> Int {
        let files = FileWalker(root: root).files(matching: filter)
        var copier = TreeCopier(source: root, target: workspace)
        for file in files {
            let target = workspace + "/" + file
            var st = stat()
            if lstat(target, &st) == 0 {
                guard (st.st_mode & S_IFMT) != S_IFDIR else {
                    throw Failure(description: "cannot copy `\(file)` back: the workspace has a directory there")
                }
                unlink(target)
            }
            try copier.copy(file)
        }
        return files.count
    }

    /// Deletes the copy and releases its lock. Call it once.
    func remove() {
        try? FileManager.default.removeItem(atPath: root)
        unlink(root + ".lock")
        close(lockFD)
    }

    /// Deletes the copies under `directory` no running shipgate holds.
    static func sweep(_ directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasSuffix(".lock") {
            let lock = directory + "/" + name
            let fd = open(lock, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
            try? FileManager.default.removeItem(atPath: String(lock.dropLast(5)))
            unlink(lock)
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// Copies paths from one root to another, creating parent directories as needed.
private struct TreeCopier {
    let source: String
    let target: String
    private var made: Set<String> = []

    init(source: String, target: String) {
        self.source = source
        self.target = target
    }

    mutating func makeDirectory(_ relative: String) throws(PrivateWorkspace.Failure) {
        guard !made.contains(relative) else { return }
        if let slash = relative.lastIndex(of: "/") { try makeDirectory(String(relative[..<slash])) }
        let path = relative.isEmpty ? target : target + "/" + relative
        if mkdir(path, 0o755) != 0 {
            guard errno == EEXIST else { throw failure("cannot create", path) }
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw PrivateWorkspace.Failure(
                    description: "private workspace: `\(path)` is not a directory (a symlink or a file); nothing is written through it")
            }
        }
        made.insert(relative)
    }

    /// Copies one file or symlink (`relative` to both roots).
    mutating func copy(_ relative: String, hardLink: Bool = false) throws(PrivateWorkspace.Failure) {
        let from = source + "/" + relative
        let to = target + "/" + relative
        var st = stat()
        guard lstat(from, &st) == 0 else {
            if errno == ENOENT { return }  // gone since it was listed
            throw failure("cannot read", from)
        }
        if let slash = relative.lastIndex(of: "/") { try makeDirectory(String(relative[..<slash])) }
        switch st.st_mode & S_IFMT {
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(from, &buffer, buffer.count - 1)
            guard n >= 0 else { throw failure("cannot read the link", from) }
            buffer[n] = 0
            guard symlink(buffer, to) == 0 else { throw failure("cannot create the link", to) }
        case S_IFREG:
            if hardLink, link(from, to) == 0 { return }
            try copyRegular(from, to, st)
        default:
            return  // sockets, fifos, devices: not workspace content
        }
    }

    private func copyRegular(_ from: String, _ to: String, _ st: stat) throws(PrivateWorkspace.Failure) {
        let input = open(from, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw failure("cannot read", from) }
        defer { close(input) }
        let output = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw failure("cannot create", to) }
        defer { close(output) }
        guard shipgate_copy_file(input, output) == 0 else { throw failure("cannot copy \(from) to", to) }
        var times = [st.st_atim, st.st_mtim]
        fchmod(output, st.st_mode & 0o7777)
        futimens(output, &times)
    }

    /// Copies a directory tree as it is (`.git`), hard-linking the files `linking` names.
    mutating func copyTree(_ relative: String, linking: (String) -> Bool) throws(PrivateWorkspace.Failure) {
        try makeDirectory(relative)
        guard let dir = opendir(source + "/" + relative) else { throw failure("cannot read", source + "/" + relative) }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            guard name != "." && name != ".." else { continue }
            let path = relative + "/" + name
            if PrivateWorkspace.isDirectory(source + "/" + path) {
                try copyTree(path, linking: linking)
            } else {
                try copy(path, hardLink: linking(path))
            }
        }
    }

    private func failure(_ what: String, _ path: String) -> PrivateWorkspace.Failure {
        PrivateWorkspace.Failure(description: "private workspace: \(what) \(path): \(String(cString: strerror(errno)))")
    }
}
