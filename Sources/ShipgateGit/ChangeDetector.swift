/// What changed, for `when: changes`: the paths that differ from a base commit, and which
/// base was used and why.
///
/// Base, in order: `--base REV`; on a pull request in GitHub Actions, the merge base with
/// `GITHUB_BASE_REF` (`origin/<ref>`, else `<ref>`); on any branch but the default one, the
/// merge base with the default branch; else the commit of the last successful run on this
/// branch. Without any of these, `paths` is nil and `unavailable` says why: jobs then run.
public struct Changes: Sendable, Equatable {
    public var paths: [String]?
    /// Which base was used, in words: `the merge base with main (1a2b3c4)`.
    public var base: String?
    public var unavailable: String?

    public static func detect(
        workspace: String, environment env: [String: String], explicitBase: String?, branch: String?,
        lastSuccessfulCommit: () -> String?
    ) -> Changes {
        let repository: Repository
        do {
            guard let found = try Repository.discover(at: workspace) else { return Changes(unavailable: "not a git repository") }
            repository = found
        } catch {
            return Changes(unavailable: error.description)
        }
        guard let head = repository.commitID("HEAD") else { return Changes(unavailable: "the repository has no commits yet") }
        func diff(_ base: String, _ description: String) -> Changes {
            do {
                return Changes(paths: try repository.changedPaths(since: base), base: "\(description) (\(base.prefix(7)))")
            } catch {
                return Changes(unavailable: error.description)
            }
        }
        if let explicit = explicitBase {
            guard let id = repository.commitID(explicit) else { return Changes(unavailable: "--base \(explicit) names no commit in this repository") }
            return diff(id, "--base \(explicit)")
        }
        if let baseRef = env["GITHUB_BASE_REF"], !baseRef.isEmpty {
            for candidate in ["origin/\(baseRef)", baseRef] {
                if let id = repository.commitID(candidate), let base = repository.mergeBase(id, head) {
                    return diff(base, "the merge base with \(candidate)")
                }
            }
        }
        if let main = repository.defaultBranch(), branch != main,
            let (name, id) = [main, "origin/\(main)"].lazy.compactMap({ n in repository.commitID(n).map { (n, $0) } }).first, id != head,
            let base = repository.mergeBase(id, head)
        {
            return diff(base, "the merge base with \(name)")
        }
        if let last = lastSuccessfulCommit(), repository.commitID(last) != nil {
            return diff(last, "the last successful run on \(branch ?? "this commit")")
        }
        return Changes(
            unavailable: branch.map { "no base to compare with: no earlier successful run on \($0) and no other default branch" } ?? "no base to compare with")
    }
}
