import CLibgit2
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An open git repository (the wrapper around `git_repository *`).
///
/// Contract: the only type in shipgate that touches libgit2 besides the helpers in this module.
/// Not thread-safe (libgit2 objects are not); open one per use. Reads only: nothing here
/// writes to the repository.
public final class Repository {
    let pointer: OpaquePointer
    /// The working directory, without a trailing slash.
    public let workdir: String

    /// Opens the repository that contains `path` (searching upwards, like `git` does).
    /// Returns nil when `path` is not inside a repository; throws for a broken one.
    public static func discover(at path: String) throws(GitError) -> Repository? {
        _ = Libgit2.ready
        var repo: OpaquePointer?
        let code = git_repository_open_ext(&repo, path, 0, nil)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try Libgit2.check(code, path: path, doing: "cannot open the repository")
        guard let repo else { return nil }
        guard let dir = git_repository_workdir(repo) else {
            git_repository_free(repo)
            throw GitError(message: "bare repositories are not supported", path: path, code: -1)
        }
        var workdir = String(cString: dir)
        while workdir.count > 1 && workdir.hasSuffix("/") { workdir.removeLast() }
        return Repository(pointer: repo, workdir: workdir)
    }

    private init(pointer: OpaquePointer, workdir: String) {
        self.pointer = pointer
        self.workdir = workdir
    }

    deinit { git_repository_free(pointer) }

    /// The commit HEAD points at, and the branch when HEAD is attached. Nil on an unborn
    /// branch (a repository without commits).
    public func head() throws(GitError) -> (commit: Commit, branch: String?)? {
        var ref: OpaquePointer?
        let code = git_repository_head(&ref, pointer)
        if code == GIT_EUNBORNBRANCH.rawValue || code == GIT_ENOTFOUND.rawValue { return nil }
        try Libgit2.check(code, path: workdir, doing: "cannot read HEAD")
        defer { git_reference_free(ref) }
        let branch = git_repository_head_detached(pointer) == 1 ? nil : git_reference_shorthand(ref).map { String(cString: $0) }
        var object: OpaquePointer?
        try Libgit2.check(git_reference_peel(&object, ref, GIT_OBJECT_COMMIT), path: workdir, doing: "cannot resolve HEAD to a commit")
        defer { git_object_free(object) }
        return (try Commit(object!, path: workdir), branch)
    }

    /// Names of the tags that point (after peeling) at `commit`, sorted.
    public func tags(pointingAt commit: Commit) throws(GitError) -> [String] {
        var names = git_strarray()
        try Libgit2.check(git_tag_list(&names, pointer), path: workdir, doing: "cannot list tags")
        defer { git_strarray_dispose(&names) }
        var result: [String] = []
        for i in 0..<names.count {
            guard let cName = names.strings[i] else { continue }
            let name = String(cString: cName)
            var object: OpaquePointer?
            guard git_revparse_single(&object, pointer, "refs/tags/\(name)^{commit}") == 0, let object else { continue }
            defer { git_object_free(object) }
            if let oid = git_object_id(object), Commit.hex(oid.pointee) == commit.id { result.append(name) }
        }
        return result.sorted()
    }

    /// Whether tracked files differ from HEAD (staged or not). Untracked files do not count,
    /// as with `git describe --dirty`.
    public func isDirty() throws(GitError) -> Bool {
        var options = git_status_options()
        try Libgit2.check(git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION)), path: workdir, doing: "cannot read status")
        options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
        options.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES.rawValue
        var list: OpaquePointer?
        try Libgit2.check(git_status_list_new(&list, pointer, &options), path: workdir, doing: "cannot read status")
        defer { git_status_list_free(list) }
        return git_status_list_entrycount(list) > 0
    }

    /// `git describe --tags --dirty` (abbreviation 7), or the short commit when no tag is
    /// reachable. Nil without commits.
    public func describe(dirtySuffix: String = "-dirty") throws(GitError) -> String? {
        guard try head() != nil else { return nil }
        var options = git_describe_options()
        try Libgit2.check(git_describe_options_init(&options, UInt32(GIT_DESCRIBE_OPTIONS_VERSION)), path: workdir, doing: "cannot describe")
        options.describe_strategy = GIT_DESCRIBE_TAGS.rawValue
        options.show_commit_oid_as_fallback = 1
        var result: OpaquePointer?
        try Libgit2.check(git_describe_workdir(&result, pointer, &options), path: workdir, doing: "cannot describe HEAD")
        defer { git_describe_result_free(result) }
        var format = git_describe_format_options()
        try Libgit2.check(git_describe_format_options_init(&format, UInt32(GIT_DESCRIBE_FORMAT_OPTIONS_VERSION)), path: workdir, doing: "cannot describe")
        format.abbreviated_size = 7
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        let code = dirtySuffix.withCString { suffix -> Int32 in
            format.dirty_suffix = suffix
            return git_describe_format(&buffer, result, &format)
        }
        try Libgit2.check(code, path: workdir, doing: "cannot format the description")
        return buffer.ptr.map { String(cString: $0) }
    }

    /// A configuration value (`user.name`), from the repository's and the user's config.
    public func config(_ key: String) -> String? {
        var config: OpaquePointer?
        guard git_repository_config_snapshot(&config, pointer) == 0 else { return nil }
        defer { git_config_free(config) }
        var value: UnsafePointer<CChar>?
        guard git_config_get_string(&value, config, key) == 0, let value else { return nil }
        return String(cString: value)
    }
}

/// What shipgate needs of a commit.
public struct Commit: Sendable, Equatable, Codable {
    public var id: String
    public var author: String
    public var committer: String
    /// The first line of the message.
    public var subject: String

    public var shortID: String { String(id.prefix(7)) }

    init(_ object: OpaquePointer, path: String) throws(GitError) {
        guard let oid = git_commit_id(object) else { throw GitError(message: "commit without id", path: path, code: -1) }
        id = Self.hex(oid.pointee)
        author = Self.signature(git_commit_author(object))
        committer = Self.signature(git_commit_committer(object))
        subject = git_commit_summary(object).map { String(cString: $0) } ?? ""
    }

    static func signature(_ s: UnsafePointer<git_signature>?) -> String {
        guard let s else { return "" }
        let name = s.pointee.name.map { String(cString: $0) } ?? ""
        let email = s.pointee.email.map { String(cString: $0) } ?? ""
        return email.isEmpty ? name : "\(name) <\(email)>"
    }

    static func hex(_ oid: git_oid) -> String {
        var oid = oid
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_fmt(&buffer, &oid)
        return String(cString: buffer)
    }
}

extension Repository {
    /// The commit a revision names (`main`, `origin/main`, `HEAD~1`, a sha), or nil.
    public func commitID(_ revision: String) -> String? {
        var object: OpaquePointer?
        guard git_revparse_single(&object, pointer, revision + "^{commit}") == 0, let object else { return nil }
        defer { git_object_free(object) }
        return git_object_id(object).map { Commit.hex($0.pointee) }
    }

    /// The best common ancestor of two commits, or nil when they share none.
    public func mergeBase(_ a: String, _ b: String) -> String? {
        var oa = git_oid(), ob = git_oid(), base = git_oid()
        guard git_oid_fromstr(&oa, a) == 0, git_oid_fromstr(&ob, b) == 0, git_merge_base(&base, pointer, &oa, &ob) == 0 else { return nil }
        return Commit.hex(base)
    }

    /// The default branch: what `origin/HEAD` points at, else a local `main`, else `master`.
    public func defaultBranch() -> String? {
        var ref: OpaquePointer?
        if git_reference_lookup(&ref, pointer, "refs/remotes/origin/HEAD") == 0, let ref {
            defer { git_reference_free(ref) }
            if let target = git_reference_symbolic_target(ref).map({ String(cString: $0) }), target.hasPrefix("refs/remotes/origin/") {
                return String(target.dropFirst("refs/remotes/origin/".count))
            }
        }
        for name in ["main", "master"] where commitID("refs/heads/\(name)") != nil || commitID("refs/remotes/origin/\(name)") != nil {
            return name
        }
        return nil
    }

    /// Paths that differ between commit `base` and the working tree: committed since `base`,
    /// staged, unstaged, and untracked (not ignored). A rename gives both its paths. Sorted.
    public func changedPaths(since base: String) throws(GitError) -> [String] {
        var object: OpaquePointer?
        try Libgit2.check(git_revparse_single(&object, pointer, base + "^{tree}"), path: workdir, doing: "cannot read the tree of \(base)")
        defer { git_object_free(object) }
        var options = git_diff_options()
        try Libgit2.check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), path: workdir, doing: "cannot diff")
        options.flags = GIT_DIFF_INCLUDE_UNTRACKED.rawValue | GIT_DIFF_RECURSE_UNTRACKED_DIRS.rawValue
        var diff: OpaquePointer?
        try Libgit2.check(
            git_diff_tree_to_workdir_with_index(&diff, pointer, object, &options), path: workdir, doing: "cannot diff against \(base)")
        defer { git_diff_free(diff) }
        return Self.paths(of: diff)
    }

    /// Both paths of every delta of a diff, renames detected, sorted.
    static func paths(of diff: OpaquePointer?) -> [String] {
        var find = git_diff_find_options()
        if git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)) == 0 {
            find.flags = GIT_DIFF_FIND_RENAMES.rawValue
            _ = git_diff_find_similar(diff, &find)
        }
        var paths = Set<String>()
        for i in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, i) else { continue }
            if let p = delta.pointee.old_file.path { paths.insert(String(cString: p)) }
            if let p = delta.pointee.new_file.path { paths.insert(String(cString: p)) }
        }
        return paths.sorted()
    }
}

extension Repository {
    /// The bytes of `path` (relative to the repository root) in the commit `revision` names,
    /// or nil when the revision or the file does not exist there. Reads the object database,
    /// never the working tree.
    public func file(_ path: String, at revision: String) -> [UInt8]? {
        guard let commit = commitID(revision) else { return nil }
        return Libgit2.blob(pointer, commit + ":" + path)
    }

    /// `path` relative to the working directory, or nil when it is outside it.
    public func relativePath(_ path: String) -> String? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let root = URL(fileURLWithPath: workdir).standardizedFileURL.resolvingSymlinksInPath().path
        if absolute == root { return "" }
        return absolute.hasPrefix(root + "/") ? String(absolute.dropFirst(root.count + 1)) : nil
    }
}

extension Repository {
    /// Regular files (mode 100644 or 100755, never links or submodules) of the tree of
    /// `commit` whose path `select` accepts, with their bytes; files over `maxSize` are listed
    /// with nil bytes so a caller can refuse them instead of missing them. Reads the object
    /// database only.
    public func regularFiles(at commit: String, maxSize: Int = 4 << 20, select: (String) -> Bool) -> [(path: String, bytes: [UInt8]?)]? {
        var object: OpaquePointer?
        guard git_revparse_single(&object, pointer, commit + "^{tree}") == 0, let object else { return nil }
        defer { git_object_free(object) }
        var out: [(path: String, bytes: [UInt8]?)] = []
        walk(tree: object, prefix: "", depth: 0, maxSize: maxSize, select: select, into: &out)
        return out
    }

    private func walk(
        tree: OpaquePointer, prefix: String, depth: Int, maxSize: Int, select: (String) -> Bool, into out: inout [(path: String, bytes: [UInt8]?)]
    ) {
        guard depth < 64 else { return }
        for i in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, i), let rawName = git_tree_entry_name(entry) else { continue }
            let path = prefix + String(cString: rawName)
            let mode = git_tree_entry_filemode(entry)
            if mode == GIT_FILEMODE_TREE {
                var sub: OpaquePointer?
                guard git_tree_lookup(&sub, pointer, git_tree_entry_id(entry)) == 0, let sub else { continue }
                walk(tree: sub, prefix: path + "/", depth: depth + 1, maxSize: maxSize, select: select, into: &out)
                git_tree_free(sub)
            } else if mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE, select(path) {
                var blob: OpaquePointer?
                guard git_blob_lookup(&blob, pointer, git_tree_entry_id(entry)) == 0, let blob else { continue }
                defer { git_blob_free(blob) }
                let size = Int(git_blob_rawsize(blob))
                if size > maxSize {
                    out.append((path, nil))
                } else if size == 0 {
                    out.append((path, []))
                } else if let raw = git_blob_rawcontent(blob) {
                    out.append((path, Array(UnsafeRawBufferPointer(start: raw, count: size))))
                }
            }
        }
    }

    /// `path` relative to the working directory *as named*, without resolving symlinks, and
    /// the first component under the working directory that is a symlink (the file itself or
    /// a parent directory), if any. Nil when the path is not under the working directory.
    public func namedPath(_ path: String) -> (relative: String, symlink: String?)? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let root = URL(fileURLWithPath: workdir).resolvingSymlinksInPath().path
        // Find the ancestor that is the working directory (it may itself be reached through a
        // link, such as /tmp on macOS); everything below it is checked for links.
        var parts = absolute.split(separator: "/").map(String.init)
        var below: [String] = []
        while !parts.isEmpty {
            let candidate = "/" + parts.joined(separator: "/")
            if URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path == root { break }
            below.insert(parts.removeLast(), at: 0)
        }
        if parts.isEmpty || below.isEmpty { return nil }
        var current = "/" + parts.joined(separator: "/")
        var link: String?
        for (i, part) in below.enumerated() where link == nil {
            current += "/" + part
            var st = stat()
            if lstat(current, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK { link = below.prefix(through: i).joined(separator: "/") }
        }
        return (below.joined(separator: "/"), link)
    }
}
