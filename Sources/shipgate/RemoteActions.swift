import Foundation
import ShipgateEngine
import ShipgateGit
import ShipgateLoading
import ShipgateModel
import ShipgatePlanning

/// The actions of other repositories a run's jobs use: resolved, fetched and read before the
/// first job starts, so a missing or refused action is known up front and every job of the run
/// sees the same commit of each.
enum RemoteActions {
    struct Prepared {
        var actions: [String: WorkflowRuntime.FetchedAction] = [:]
        /// Action directory → relative path → SHA-256 of its extracted files.
        var digests: [String: [String: String]] = [:]
        /// The Node.js major versions the run's JavaScript actions ask for.
        var nodeMajors = Set<Int>()
        /// One line per resolved repository and ref, for the terminal.
        var lines: [String] = []
        var warnings: [String] = []
    }

    /// Resolves and extracts (into `directory`, one tree per repository and commit) every
    /// action of another repository that the plan's running jobs use, recursively through
    /// composite actions; a job that needs an action that cannot be fetched or run is refused,
    /// with the reason.
    /// `requirePinned`: an action named by a tag or branch anywhere (a fetched composite
    /// action's steps included) refuses the jobs that need it.
    static func prepare(
        _ plan: inout ExecutionPlan, workspace: String, into directory: String, repositories: ActionRepositories, requirePinned: Bool = false
    ) -> Prepared {
        var prepared = Prepared()
        var queue: [String] = []
        func note(_ steps: [GitHubStep]) {
            for step in steps {
                if let composite = step.composite {
                    if let js = composite.javascript { prepared.nodeMajors.insert(js.nodeMajor) }
                    note(composite.steps)
                }
            }
        }
        for job in plan.jobs where job.status == .run {
            let steps = job.steps.compactMap(\.github)
            note(steps)
            queue += FetchedActions.uses(in: steps)
        }
        guard !queue.isEmpty else { return prepared }
        var resolved: [String: ActionRepositories.Resolved] = [:]
        var failures: [String: String] = [:]
        var trees: [String: String] = [:]
        var seen = Set<String>()
        let source = GitActionSource(root: workspace)
        while !queue.isEmpty {
            let uses = queue.removeFirst()
            guard seen.insert(uses).inserted else { continue }
            guard let (repository, subpath, ref) = RemoteAction.parse(uses) else {
                prepared.actions[uses] = .refused("`uses: \(uses)` is not `owner/repo[/path]@ref`")
                continue
            }
            if requirePinned && !FetchedActions.isPinned(uses) {
                prepared.actions[uses] = .refused("not pinned to a commit SHA (--require-pinned), used by a fetched action: pin it there")
                continue
            }
            let key = repository.lowercased() + "@" + ref
            if resolved[key] == nil, failures[key] == nil {
                do {
                    let r = try repositories.resolve(repository: repository, ref: ref)
                    resolved[key] = r
                    let pinned = ActionRepositories.isCommitSHA(ref) ? "pinned" : "not pinned"
                    prepared.lines.append("action \(repository)@\(ref) → \(r.commit.prefix(12)) (\(pinned); \(r.url))")
                    if let warning = r.warning { prepared.warnings.append(warning) }
                } catch {
                    failures[key] = error.message
                }
            }
            guard let resolution = resolved[key] else {
                prepared.actions[uses] = .unavailable("cannot fetch `\(uses)`: \(failures[key] ?? "unknown error")")
                continue
            }
            let treeKey = repository.lowercased() + "@" + resolution.commit
            if trees[treeKey] == nil {
                let tree = directory + "/" + repository.lowercased().replacing("/", with: "__") + "/" + resolution.commit
                do {
                    try FileManager.default.createDirectory(atPath: (tree as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try repositories.extract(repository: repository, commit: resolution.commit, into: tree)
                    trees[treeKey] = tree
                } catch let error as GitError {
                    prepared.actions[uses] = .unavailable("cannot extract `\(uses)`: \(error.message)")
                    continue
                } catch {
                    prepared.actions[uses] = .unavailable("cannot extract `\(uses)`: \(error.localizedDescription)")
                    continue
                }
            }
            let actionDirectory = subpath.isEmpty ? trees[treeKey]! : trees[treeKey]! + "/" + subpath
            let (read, refusal) = RemoteActionReader.read(directory: actionDirectory, uses: uses, workspace: source)
            guard var action = read else {
                prepared.actions[uses] = .refused(refusal ?? "`\(uses)` cannot be read")
                continue
            }
            action.remote = RemoteAction(repository: repository, subpath: subpath, ref: ref, commit: resolution.commit, directory: actionDirectory)
            prepared.actions[uses] = .action(action)
            if prepared.digests[trees[treeKey]!] == nil { prepared.digests[trees[treeKey]!] = ActionFiles.digests(trees[treeKey]!) }
            if let js = action.javascript { prepared.nodeMajors.insert(js.nodeMajor) }
            note(action.steps)
            queue += FetchedActions.uses(in: action.steps)
        }
        // A job that needs an action that cannot run is refused before anything starts.
        for index in plan.jobs.indices where plan.jobs[index].status == .run {
            let refused = WorkflowRuntime.firstProblem(plan.jobs[index].steps.compactMap(\.github), actions: prepared.actions) {
                if case .refused(let why) = $0 { why } else { nil }
            }
            if let (uses, why) = refused {
                plan.jobs[index].status = .skip
                plan.jobs[index].reason = "refused: \(plan.jobs[index].location): `uses: \(uses)`: \(why)"
            }
        }
        return prepared
    }

}
