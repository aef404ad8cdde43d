import CLibgit2
import Foundation

/// What changed between two commits: for a release console showing what a deploy would ship.
extension Repository {
    /// The commit `revision` names, or nil.
    public func commit(_ revision: String) -> Commit? {
        var object: OpaquePointer?
        guard git_revparse_single(&object, pointer, revision + "^{commit}") == 0, let object else { return nil }
        defer { git_object_free(object) }
        return try? Commit(object, path: workdir)
    }

    /// Commits reachable from `head` but not from `base` (all of `head`'s history when `base`
    /// is nil or unknown), newest first, at most `limit`; and whether more were left out.
    public func commits(from base: String?, to head: String, limit: Int) -> (commits: [Commit], truncated: Bool) {
        var walk: OpaquePointer?
        guard git_revwalk_new(&walk, pointer) == 0, let walk else { return ([], false) }
        defer { git_revwalk_free(walk) }
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue)
        var headOID = git_oid()
        guard git_oid_fromstr(&headOID, head) == 0, git_revwalk_push(walk, &headOID) == 0 else { return ([], false) }
        if let base {
            var baseOID = git_oid()
            if git_oid_fromstr(&baseOID, base) == 0 { _ = git_revwalk_hide(walk, &baseOID) }
        }
        var result: [Commit] = []
        var oid = git_oid()
        while git_revwalk_next(&oid, walk) == 0 {
            if result.count == limit { return (result, true) }
            var object: OpaquePointer?
            guard git_commit_lookup(&object, pointer, &oid) == 0, let object else { continue }
            defer { git_commit_free(object) }
            if let c = try? Commit(object, path: workdir) { result.append(c) }
        }
        return (result, false)
    }

    /// Paths that differ between the trees of commits `base` and `head` (a rename gives both
    /// paths), sorted; nil when either commit is unknown.
    public func changedPaths(from base: String, to head: String) -> [String]? {
        func tree(_ rev: String) -> OpaquePointer? {
            var object: OpaquePointer?
            guard git_revparse_single(&object, pointer, rev + "^{tree}") == 0 else { return nil }
            return object
        }
        guard let a = tree(base) else { return nil }
        defer { git_object_free(a) }
        guard let b = tree(head) else { return nil }
        defer { git_object_free(b) }
        var diff: OpaquePointer?
        guard git_diff_tree_to_tree(&diff, pointer, a, b, nil) == 0, let diff else { return nil }
        defer { git_diff_free(diff) }
        return Self.paths(of: diff)
    }
}
