import CLibgit2
import Foundation

/// A clean checkout of a commit in a fresh temporary directory, for `run --isolate`: exactly
/// the committed files, no untracked files, no build leftovers. Written through libgit2
/// without touching the repository's own index, HEAD or working tree.
///
/// The checkout is a repository of its own (a local clone, objects hard-linked where the file
/// system allows): `git log`, `git describe`, setuptools-scm and hatch-vcs work in it, HEAD is
/// the run's branch (or detached at the commit), and nothing is registered in the original
/// repository. When the clone cannot be made (a shallow repository, a commit no ref reaches),
/// the committed tree is written without `.git` instead, and `hasRepository` is false.
///
/// Contract: `remove()` deletes the directory; callers call it on every exit path (success,
/// failure, cancel).
public final class IsolatedWorktree: @unchecked Sendable {
    public let root: String
    /// The repository the checkout came from, and the commit checked out.
    public let repositoryRoot: String
    public let commit: String
    /// Whether the checkout has its own `.git` (see above).
    public private(set) var hasRepository = false
    private var removed = false
    private let lock = NSLock()

    /// Checks out HEAD's commit of the repository containing `path`.
    public static func create(forRepositoryContaining path: String) throws(GitError) -> IsolatedWorktree {
        guard let repository = try Repository.discover(at: path) else {
            throw GitError(message: "--isolate needs a git repository", path: path, code: -1)
        }
        guard let (head, branch) = try repository.head() else {
            throw GitError(message: "--isolate needs a commit to check out; this repository has none", path: repository.workdir, code: -1)
        }
        return try create(repository, commit: head.id, branch: branch)
    }

    /// Checks out `commit` (a full id) of the repository containing `path`, on `branch` if given.
    public static func create(forRepositoryContaining path: String, commit: String, branch: String?) throws(GitError) -> IsolatedWorktree {
        guard let repository = try Repository.discover(at: path) else {
            throw GitError(message: "not a git repository", path: path, code: -1)
        }
        return try create(repository, commit: commit, branch: branch)
    }

    private static func create(_ repository: Repository, commit: String, branch: String?) throws(GitError) -> IsolatedWorktree {
        let root = NSTemporaryDirectory() + "shipgate-isolate-" + UUID().uuidString
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw GitError(message: "cannot create a directory for the checkout: \(error.localizedDescription)", path: root, code: -1)
        }
        let tree = IsolatedWorktree(root: root, repositoryRoot: repository.workdir, commit: commit)
        if (try? repository.clone(into: root, commit: commit, branch: branch)) != nil {
            tree.hasRepository = true
            return tree
        }
        // No clone: the committed tree alone, in an emptied directory.
        try? FileManager.default.removeItem(atPath: root)
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try repository.checkout(commit: commit, into: root)
        } catch let error as GitError {
            tree.remove()
            throw error
        } catch {
            tree.remove()
            throw GitError(message: "cannot create a directory for the checkout: \(error.localizedDescription)", path: root, code: -1)
        }
        return tree
    }

    private init(root: String, repositoryRoot: String, commit: String) {
        self.root = root
        self.repositoryRoot = repositoryRoot
        self.commit = commit
    }

    /// Where `path` (inside the repository) is in the checkout.
    public func translate(_ path: String) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard absolute.hasPrefix(repositoryRoot + "/") else { return absolute }
        return root + absolute.dropFirst(repositoryRoot.count)
    }

    /// Deletes the checkout. Safe to call more than once and from a signal handler's queue.
    public func remove() {
        lock.lock()
        defer { lock.unlock() }
        guard !removed else { return }
        removed = true
        try? FileManager.default.removeItem(atPath: root)
    }
}

extension Repository {
    /// Clones this repository into `directory` (local transport: every branch and tag, objects
    /// hard-linked), checks out `commit` and points HEAD at `branch` (created there at the commit)
    /// or, without one, detaches it at the commit. Leaves this repository alone.
    func clone(into directory: String, commit: String, branch: String?) throws(GitError) {
        var options = git_clone_options()
        try Libgit2.check(git_clone_options_init(&options, UInt32(GIT_CLONE_OPTIONS_VERSION)), path: workdir, doing: "cannot clone")
        options.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE.rawValue
        options.local = GIT_CLONE_LOCAL_AUTO
        var clone: OpaquePointer?
        let source = String(cString: git_repository_path(pointer))
        try Libgit2.check(git_clone(&clone, source, directory, &options), path: directory, doing: "cannot clone \(workdir)")
        defer { git_repository_free(clone) }
        var object: OpaquePointer?
        try Libgit2.check(git_revparse_single(&object, clone, commit + "^{commit}"), path: directory, doing: "the clone has no commit \(commit.prefix(7))")
        defer { git_object_free(object) }
        var checkout = git_checkout_options()
        try Libgit2.check(git_checkout_options_init(&checkout, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), path: directory, doing: "cannot check out")
        checkout.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue
        try Libgit2.check(git_checkout_tree(clone, object, &checkout), path: directory, doing: "cannot check out \(commit.prefix(7))")
        guard let oid = git_object_id(object) else { throw GitError(message: "no id for \(commit)", path: directory, code: -1) }
        try Libgit2.check(git_repository_set_head_detached(clone, oid), path: directory, doing: "cannot set HEAD")
        guard let branch else { return }
        var ref: OpaquePointer?
        try Libgit2.check(git_branch_create(&ref, clone, branch, object, 1), path: directory, doing: "cannot create branch \(branch)")
        git_reference_free(ref)
        try Libgit2.check(git_repository_set_head(clone, "refs/heads/" + branch), path: directory, doing: "cannot set HEAD to \(branch)")
    }

    /// Writes the tree of `commit` into `directory` (which must exist), leaving the
    /// repository's index and working tree alone.
    func checkout(commit: String, into directory: String) throws(GitError) {
        var object: OpaquePointer?
        try Libgit2.check(git_revparse_single(&object, pointer, commit + "^{tree}"), path: workdir, doing: "cannot read the tree of \(commit)")
        defer { git_object_free(object) }
        var options = git_checkout_options()
        try Libgit2.check(git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), path: workdir, doing: "cannot check out")
        options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_DONT_UPDATE_INDEX.rawValue | GIT_CHECKOUT_DONT_WRITE_INDEX.rawValue
        let code = directory.withCString { target -> Int32 in
            options.target_directory = target
            return git_checkout_tree(pointer, object, &options)
        }
        try Libgit2.check(code, path: directory, doing: "cannot check out \(commit.prefix(7)) into \(directory)")
    }
}
