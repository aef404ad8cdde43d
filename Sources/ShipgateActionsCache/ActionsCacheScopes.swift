/// Which entries of `@actions/cache` a run may read and where it writes, as GitHub scopes them
/// ("Restrictions for accessing a cache"): a run writes to its own ref only, and reads its own
/// ref, then the base branch of a pull request, then the default branch. So a pull request or a
/// feature branch cannot plant an entry that a run on the default branch restores.
///
/// A scope is `owner/repo@refs/...`.
public struct ActionsCacheScopes: Sendable, Equatable {
    public let write: String
    /// In lookup order; `write` first.
    public let read: [String]

    /// `ref` is `github.ref` (`refs/heads/x`, `refs/tags/v1`, `refs/pull/1/merge`); `baseBranch`
    /// is `github.base_ref` (a branch name, pull requests only); `defaultBranch` the repository's.
    public init(repository: String, ref: String, baseBranch: String?, defaultBranch: String?) {
        let own = ref.isEmpty ? "refs/heads/" + (defaultBranch.flatMap { $0.isEmpty ? nil : $0 } ?? "main") : ref
        write = "\(repository)@\(own)"
        var read = [write]
        for branch in [baseBranch, defaultBranch] {
            guard let branch, !branch.isEmpty else { continue }
            let scope = "\(repository)@refs/heads/\(branch)"
            if !read.contains(scope) { read.append(scope) }
        }
        self.read = read
    }
}
