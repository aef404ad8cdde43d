import CLibgit2
import Foundation

/// A clean checkout of a commit in a fresh temporary directory, for `run --isolate`: exactly
/// the committed files, no untracked files, no build leftovers. Written through libgit2
/// without touching the repository's own index, HEAD or working tree.
///
/// Contract: `remove()` deletes the directory; callers call it on every exit path (success,
/// failure, cancel). The directory holds no `.git`: it is a copy, not a worktree git knows.
public final class IsolatedWorktree: @unchecked Sendable {
    public let root: String
    /// The repository the checkout came from, and the commit checked out.
    public let repositoryRoot: String
    public let commit: String
    private var removed = false
    private let lock = NSLock()

    /// Checks out HEAD's commit of the repository containing `path`.
    public static func create(forRepositoryContaining path: String) throws(GitError) -> IsolatedWorktree {
        guard let repository = try Repository.discover(at: path) else {
            throw GitError(message: "--isolate needs a git repository", path: path, code: -1)
        }
        guard let (head, _) = try repository.head() else {
            throw GitError(message: "--isolate needs a commit to check out; this repository has none", path: repository.workdir, code: -1)
        }
        let root = NSTemporaryDirectory() + "shipgate-isolate-" + UUID().uuidString
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw GitError(message: "cannot create a directory for the checkout: \(error.localizedDescription)", path: root, code: -1)
        }
        let tree = IsolatedWorktree(root: root, repositoryRoot: repository.workdir, commit: head.id)
        do {
            try repository.checkout(commit: head.id, into: root)
        } catch {
            tree.remove()
            throw error
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
