import CLibgit2
import Foundation
import ShipgateModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where `uses: owner/repo[/path]@ref` actions come from, and the cache that keeps them.
///
/// Contract:
/// - `owner/repo` is fetched from `<baseURL>/<owner>/<repo>` (GitHub by default; a mirror, or a
///   `file://` directory holding `owner/repo` or `owner/repo.git` bare repositories, works the
///   same) into a bare mirror under `root`: one per base URL and repository, shared by every
///   repository and run of the user, locked (`flock`) while it is fetched.
/// - A ref resolves as git resolves a name: a tag, then a branch; a 40-hex ref must name a
///   commit the repository has (libgit2 checks every object it reads against its id, so a
///   mirror whose objects were changed fails instead of giving other code).
/// - Online, a tag or branch is fetched again each time it is resolved (once per run; the
///   caller records the commit); a SHA already in the mirror needs no network. Offline, only
///   the mirror is read, and a missing action is an error that names it.
/// - Nothing here runs the `git` binary.
public struct ActionRepositories: Sendable {
    public var root: String
    public var baseURL: String
    public var offline: Bool

    public static let defaultURL = "https://github.com"

    public init(root: String, baseURL: String = ActionRepositories.defaultURL, offline: Bool = false) {
        self.root = root
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.offline = offline
    }

    /// A ref resolved to its commit.
    public struct Resolved: Sendable, Equatable, Codable {
        public var repository: String
        public var ref: String
        public var commit: String
        /// Where it was fetched from.
        public var url: String
        /// Said when the remote could not be reached and the mirror's copy was used.
        public var warning: String?
    }

    public static func isCommitSHA(_ ref: String) -> Bool { FetchedActions.isCommitSHA(ref) }

    /// `owner/repo` as the mirror's key (GitHub's names are case-insensitive).
    static func key(_ repository: String) -> String { repository.lowercased() }

    public func url(of repository: String) -> String {
        let direct = baseURL + "/" + repository
        if let path = Self.localPath(direct), !FileManager.default.fileExists(atPath: path), FileManager.default.fileExists(atPath: path + ".git") {
            return direct + ".git"
        }
        return direct
    }

    static func localPath(_ url: String) -> String? {
        if url.hasPrefix("file://") { return String(url.dropFirst("file://".count)) }
        return url.hasPrefix("/") ? url : nil
    }

    /// The mirror's directory: `<root>/<base URL as a name>/<owner>/<repo>.git`.
    public func mirror(of repository: String) -> String {
        let host = String(
            baseURL.replacing("https://", with: "").replacing("http://", with: "").replacing("file://", with: "file_").map {
                $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_"
            })
        return "\(root)/\(host)/\(Self.key(repository)).git"
    }

    /// The commit `ref` names in the mirror, without any network; nil when it does not have it.
    public func cachedCommit(repository: String, ref: String) -> String? {
        let path = mirror(of: repository)
        guard FileManager.default.fileExists(atPath: path), let repo = try? BareRepository(path: path, create: false) else { return nil }
        return repo.lookup(ref)
    }

    /// A file of the commit (`path` from the repository root) as the mirror holds it, or nil;
    /// reads the object database only (for `plan`, which never fetches or extracts).
    public func cachedFile(repository: String, commit: String, path: String) -> [UInt8]? {
        let mirror = mirror(of: repository)
        guard FileManager.default.fileExists(atPath: mirror), let repo = try? BareRepository(path: mirror, create: false) else { return nil }
        return repo.file(path, at: commit)
    }

    public func resolve(repository: String, ref: String) throws(GitError) -> Resolved {
        _ = Libgit2.ready
        let path = mirror(of: repository)
        let url = url(of: repository)
        let missing = GitError(
            message: "`\(repository)@\(ref)` is not in the action cache, and --offline forbids fetching it; run once without --offline to fetch it",
            path: path, code: -1)
        if offline {
            guard let commit = cachedCommit(repository: repository, ref: ref) else { throw missing }
            return Resolved(repository: repository, ref: ref, commit: commit, url: url)
        }
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let lock = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        defer { if lock >= 0 { close(lock) } }
        if lock >= 0 { flock(lock, LOCK_EX) }
        let repo = try BareRepository(path: path, create: true)
        // A commit already here needs no network: its id is its content.
        if Self.isCommitSHA(ref), let commit = repo.lookup(ref) { return Resolved(repository: repository, ref: ref, commit: commit, url: url) }
        do {
            try repo.fetch(url: url, refspecs: ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"])
        } catch {
            if let commit = repo.lookup(ref) {
                return Resolved(
                    repository: repository, ref: ref, commit: commit, url: url,
                    warning: "cannot fetch \(url) (\(error.message)); using the cached \(repository)@\(ref) (\(commit.prefix(12)))")
            }
            throw GitError(message: "cannot fetch the action \(repository)@\(ref) from \(url): \(error.message)", path: path, code: error.code)
        }
        if let commit = repo.lookup(ref) { return Resolved(repository: repository, ref: ref, commit: commit, url: url) }
        if Self.isCommitSHA(ref) {
            // Not on a branch or tag: ask for the commit itself (servers that allow it, GitHub does).
            try? repo.fetch(url: url, refspecs: ["+\(ref.lowercased()):refs/shipgate/\(ref.lowercased())"])
            if let commit = repo.lookup(ref) { return Resolved(repository: repository, ref: ref, commit: commit, url: url) }
            throw GitError(message: "`\(repository)@\(ref)`: \(url) has no commit \(ref)", path: path, code: -1)
        }
        throw GitError(message: "`\(repository)@\(ref)`: \(url) has no tag or branch `\(ref)`", path: path, code: -1)
    }

    /// Writes the tree of `commit` into `directory` (which must not exist): regular files with
    /// their executable bit, links whose target stays inside the tree; submodules are left
    /// out. Written to a sibling first and renamed, so a directory that exists is complete.
    /// Returns the number of files.
    @discardableResult
    public func extract(repository: String, commit: String, into directory: String) throws(GitError) -> Int {
        let repo = try BareRepository(path: mirror(of: repository), create: false)
        let partial = directory + ".partial-\(getpid())"
        try? FileManager.default.removeItem(atPath: partial)
        let count = try repo.write(commit: commit, into: partial)
        try? FileManager.default.removeItem(atPath: directory)
        guard rename(partial, directory) == 0 else {
            try? FileManager.default.removeItem(atPath: partial)
            throw GitError(message: "cannot move the action into place: \(String(cString: strerror(errno)))", path: directory, code: -1)
        }
        return count
    }
}

/// A bare repository (the action mirrors): init, fetch, lookups and writing out a tree.
final class BareRepository {
    let pointer: OpaquePointer
    let path: String

    init(path: String, create: Bool) throws(GitError) {
        _ = Libgit2.ready
        self.path = path
        var repo: OpaquePointer?
        var code = git_repository_open_bare(&repo, path)
        if code < 0, create {
            // Absent, or left broken by an interrupted first fetch: start it again.
            try? FileManager.default.removeItem(atPath: path)
            code = git_repository_init(&repo, path, 1)
        }
        try Libgit2.check(code, path: path, doing: create ? "cannot create the action mirror" : "cannot open the action mirror")
        pointer = repo!
    }

    deinit { git_repository_free(pointer) }

    /// The commit `ref` names: a tag, a branch, or a full SHA of a commit (never a tag object
    /// or tree named by its id).
    func lookup(_ ref: String) -> String? {
        if ActionRepositories.isCommitSHA(ref) {
            var oid = git_oid()
            guard git_oid_fromstr(&oid, ref.lowercased()) == 0 else { return nil }
            var commit: OpaquePointer?
            guard git_commit_lookup(&commit, pointer, &oid) == 0, let commit else { return nil }
            defer { git_commit_free(commit) }
            return git_commit_id(commit).map { Commit.hex($0.pointee) }
        }
        // Exactly `refs/tags/<ref>`, then `refs/heads/<ref>`: no revision syntax, no short ids.
        for full in ["refs/tags/\(ref)", "refs/heads/\(ref)"] {
            var valid: Int32 = 0
            guard git_reference_name_is_valid(&valid, full) == 0, valid == 1 else { return nil }
            var reference: OpaquePointer?
            guard git_reference_lookup(&reference, pointer, full) == 0, let reference else { continue }
            defer { git_reference_free(reference) }
            var object: OpaquePointer?
            guard git_reference_peel(&object, reference, GIT_OBJECT_COMMIT) == 0, let object else { continue }
            defer { git_object_free(object) }
            if let oid = git_object_id(object) { return Commit.hex(oid.pointee) }
        }
        return nil
    }

    func file(_ path: String, at commit: String) -> [UInt8]? {
        guard ActionRepositories.isCommitSHA(commit) else { return nil }
        return Libgit2.blob(pointer, commit + ":" + path)
    }

    func fetch(url: String, refspecs: [String]) throws(GitError) {
        var remote: OpaquePointer?
        try Libgit2.check(git_remote_create_anonymous(&remote, pointer, url), path: url, doing: "cannot use the remote")
        defer { git_remote_free(remote) }
        var options = git_fetch_options()
        try Libgit2.check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), path: url, doing: "cannot fetch")
        options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        options.update_fetchhead = 0
        options.prune = GIT_FETCH_PRUNE
        var pointers: [UnsafeMutablePointer<CChar>?] = refspecs.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        let code = pointers.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var specs = git_strarray(strings: buffer.baseAddress, count: buffer.count)
            return git_remote_fetch(remote, &specs, &options, nil)
        }
        try Libgit2.check(code, path: url, doing: "fetch failed")
    }

    /// Writes the tree: directories and regular files first (each name at most once per
    /// directory, compared case-insensitively, so no entry can stand in for another on any file
    /// system), every file created with `O_EXCL | O_NOFOLLOW` below directories this pass made;
    /// links last, then each link whose target resolves outside the tree (through other links
    /// too) is removed again.
    func write(commit: String, into directory: String) throws(GitError) -> Int {
        var object: OpaquePointer?
        try Libgit2.check(git_revparse_single(&object, pointer, commit + "^{tree}"), path: path, doing: "cannot read the tree of \(commit)")
        defer { git_object_free(object) }
        var count = 0
        var links: [(path: String, target: String)] = []
        guard mkdir(directory, 0o755) == 0 else {
            throw GitError(message: "cannot create the directory: \(String(cString: strerror(errno)))", path: directory, code: -1)
        }
        try write(tree: object!, to: directory, depth: 0, count: &count, links: &links)
        for link in links { symlink(link.target, link.path) }
        let root = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        var changed = true
        while changed {
            changed = false
            for link in links {
                var st = stat()
                guard lstat(link.path, &st) == 0 else { continue }
                // realpath fails for a dangling link: removed as well.
                guard let resolved = realpath(link.path, nil) else {
                    unlink(link.path)
                    changed = true
                    continue
                }
                let target = String(cString: resolved)
                free(resolved)
                if target != root && !target.hasPrefix(root + "/") {
                    unlink(link.path)
                    changed = true
                }
            }
        }
        return count
    }

    private func write(tree: OpaquePointer, to directory: String, depth: Int, count: inout Int, links: inout [(path: String, target: String)]) throws(GitError)
    {
        guard depth < 64 else { return }
        var names = Set<String>()
        for i in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, i), let rawName = git_tree_entry_name(entry) else { continue }
            let name = String(cString: rawName)
            // A name git itself would refuse to check out (`..`, `.git`, a slash), or a second
            // entry of the same name, is skipped.
            guard name != ".", name != "..", !name.isEmpty, name.lowercased() != ".git", !name.contains("/"), names.insert(name.lowercased()).inserted else {
                continue
            }
            let target = directory + "/" + name
            let mode = git_tree_entry_filemode(entry)
            switch mode {
            case GIT_FILEMODE_TREE:
                var sub: OpaquePointer?
                guard git_tree_lookup(&sub, pointer, git_tree_entry_id(entry)) == 0, let sub else { continue }
                defer { git_tree_free(sub) }
                guard mkdir(target, 0o755) == 0 else {
                    throw GitError(message: "cannot create the directory: \(String(cString: strerror(errno)))", path: target, code: -1)
                }
                try write(tree: sub, to: target, depth: depth + 1, count: &count, links: &links)
            case GIT_FILEMODE_BLOB, GIT_FILEMODE_BLOB_EXECUTABLE, GIT_FILEMODE_LINK:
                var blob: OpaquePointer?
                try Libgit2.check(git_blob_lookup(&blob, pointer, git_tree_entry_id(entry)), path: target, doing: "cannot read the file")
                defer { git_blob_free(blob) }
                let size = Int(git_blob_rawsize(blob))
                let raw = git_blob_rawcontent(blob)
                if mode == GIT_FILEMODE_LINK {
                    let link = raw.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: size), as: UTF8.self) } ?? ""
                    if !link.isEmpty && !link.hasPrefix("/") && !link.contains("\0") { links.append((target, link)) }
                    continue
                }
                let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0o755 : 0o644)
                guard fd >= 0 else { throw GitError(message: "cannot write: \(String(cString: strerror(errno)))", path: target, code: -1) }
                defer { close(fd) }
                var offset = 0
                while offset < size, let raw {
                    let n = systemWrite(fd, raw + offset, size - offset)
                    guard n > 0 else { throw GitError(message: "cannot write: \(String(cString: strerror(errno)))", path: target, code: -1) }
                    offset += n
                }
                count += 1
            default: continue  // submodules (commits) are not fetched, as GitHub's tarball has none
            }
        }
    }
}

/// `write(2)` (the class's own `write` methods hide the C one inside it).
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
