#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who started a run and on which commit: what steps see as `SHIPGATE_*` variables and what
/// `${{ git.* }}` expands to.
///
/// Inside GitHub Actions, `GITHUB_SHA`, `GITHUB_HEAD_REF` (pull requests), `GITHUB_REF_NAME`
/// with `GITHUB_REF_TYPE`, and `GITHUB_ACTOR` take precedence over what the checkout says
/// (a detached checkout has no branch otherwise). Outside a repository, `git` is nil and
/// `unavailable` says why; the run goes on.
public struct RunContext: Sendable, Equatable {
    public struct Git: Sendable, Equatable, Codable {
        public var commit: String
        public var branch: String?
        public var tags: [String]
        public var dirty: Bool
        public var author: String
        public var committer: String
        public var subject: String
        /// `git describe --tags --dirty`, or the short commit when no tag is reachable.
        public var version: String

        public var shortCommit: String { String(commit.prefix(7)) }
    }

    public var git: Git?
    public var unavailable: String?
    public var actor: String

    public static func resolve(workspace: String, environment env: [String: String], actor explicitActor: String?) -> RunContext {
        var context = RunContext(git: nil, unavailable: nil, actor: "")
        var repository: Repository?
        do {
            repository = try Repository.discover(at: workspace)
            if repository == nil { context.unavailable = "not a git repository" }
        } catch {
            context.unavailable = error.description
        }
        if let repository {
            do {
                if let (commit, branch) = try repository.head() {
                    context.git = Git(
                        commit: commit.id, branch: branch, tags: try repository.tags(pointingAt: commit), dirty: try repository.isDirty(),
                        author: commit.author, committer: commit.committer, subject: commit.subject,
                        version: try repository.describe() ?? commit.shortID)
                } else {
                    context.unavailable = "the repository has no commits yet"
                }
            } catch {
                context.unavailable = error.description
            }
        }
        // GitHub's variables describe the run only inside GitHub Actions: elsewhere a stray
        // `GITHUB_HEAD_REF=main` must not make a branch pass for `main`.
        if var git = context.git, env["GITHUB_ACTIONS"] == "true" {
            func value(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
            if let sha = value("GITHUB_SHA"), sha.count == 40 { git.commit = sha }
            if let head = value("GITHUB_HEAD_REF") {
                git.branch = head
            } else if value("GITHUB_REF_TYPE") == "branch", let name = value("GITHUB_REF_NAME") {
                git.branch = name
            }
            if value("GITHUB_REF_TYPE") == "tag", let name = value("GITHUB_REF_NAME") {
                git.tags.removeAll { $0 == name }
                git.tags.insert(name, at: 0)  // the pushed tag is the run's tag
            }
            context.git = git
        }
        context.actor =
            [explicitActor, env["SHIPGATE_ACTOR"], env["GITHUB_ACTOR"], repository?.config("user.name"), Self.osUser(env)]
            .compactMap { $0.flatMap { $0.isEmpty ? nil : $0 } }.first ?? "unknown"
        return context
    }

    /// `SHIPGATE_*` variables for every step. Without git context only `SHIPGATE_ACTOR` is set.
    public var environment: [String: String] {
        var env = ["SHIPGATE_ACTOR": actor]
        guard let git else { return env }
        env["SHIPGATE_COMMIT"] = git.commit
        env["SHIPGATE_COMMIT_SHORT"] = git.shortCommit
        env["SHIPGATE_BRANCH"] = git.branch ?? ""
        env["SHIPGATE_TAG"] = git.tags.first ?? ""
        env["SHIPGATE_DIRTY"] = git.dirty ? "true" : "false"
        env["SHIPGATE_VERSION"] = git.version
        return env
    }

    /// Values for `${{ git.KEY }}` (the keys of `Interpolation.gitKeys`); empty without git context.
    public var interpolation: [String: String] {
        let git = self.git
        return [
            "commit": git?.commit ?? "", "commit_short": git?.shortCommit ?? "", "branch": git?.branch ?? "",
            "tag": git?.tags.first ?? "", "dirty": git.map { $0.dirty ? "true" : "false" } ?? "",
            "author": git?.author ?? "", "committer": git?.committer ?? "", "subject": git?.subject ?? "",
            "version": git?.version ?? "", "actor": actor,
        ]
    }

    /// One line for humans: `main @ 1a2b3c4 (v1.4.0-3-g1a2b3c4-dirty), actor ada`.
    public var summary: String {
        guard let git else { return "git context unavailable (\(unavailable ?? "unknown reason")); actor \(actor)" }
        let at = git.branch.map { "\($0) @ " } ?? "detached @ "
        return "\(at)\(git.shortCommit) (\(git.version)), actor \(actor)"
    }

    private static func osUser(_ env: [String: String]) -> String? {
        if let user = env["USER"], !user.isEmpty { return user }
        guard let pw = getpwuid(getuid()), let name = pw.pointee.pw_name else { return nil }
        return String(cString: name)
    }
}
