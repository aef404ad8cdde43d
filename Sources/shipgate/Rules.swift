import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateGit
import ShipgatePlanning
import ShipgateReport

/// `--base` and the inputs of `when:` rules, shared by `run` and `plan`.
struct RuleOptions: ParsableArguments {
    @Option(help: "Compare with this revision for `when: changes` (default: PR base, merge base with the default branch, or the last successful run).")
    var base: String?

    /// Branch, tags and changed paths for the planner. Only computed when a job has `when:`.
    /// Throws when `--base` names no commit.
    func inputs(needed: Bool, context: RunContext, workspace: Workspace, environment: [String: String]) throws -> RuleInputs? {
        guard needed else { return nil }
        let branch = context.git?.branch
        let changes = Changes.detect(
            workspace: workspace.root, environment: environment, explicitBase: base, branch: branch,
            // Read only when no earlier base applies: it scans the run records.
            lastSuccessfulCommit: { branch.flatMap { Self.lastSuccessfulCommit(stateDirectory: workspace.stateDirectory, branch: $0) } })
        if base != nil, changes.paths == nil {
            let style = Terminal.stderrStyle
            FileDescriptorSink.standardError.write(
                "\(style.red(style.bold("error:"))) \(changes.unavailable ?? "--base \(base!) cannot be used")\n  \(style.cyan("hint:")) pass a branch, tag or commit, e.g. --base origin/main\n"
            )
            throw ExitWith(code: Exit.invalid)
        }
        // shipgate's own state is never a change.
        let state = workspace.stateDirectory.hasPrefix(workspace.root + "/") ? String(workspace.stateDirectory.dropFirst(workspace.root.count + 1)) + "/" : nil
        let paths = changes.paths.map { all in state.map { s in all.filter { !$0.hasPrefix(s) } } ?? all }
        return RuleInputs(
            branch: branch, tags: context.git?.tags ?? [], gitUnavailable: context.git == nil ? context.unavailable ?? "no git context" : nil,
            changedPaths: paths, base: changes.base, changesUnavailable: changes.unavailable)
    }

    /// The commit of the newest successful run on `branch`, from the run records.
    static func lastSuccessfulCommit(stateDirectory: String, branch: String) -> String? {
        let runs = stateDirectory + "/runs"
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).sorted(by: >)
        for id in ids.prefix(200) {
            // Only a complete run in which every job succeeded (or was restored, or skipped by a
            // rule) vouches that its commit's changes were dealt with.
            guard let record = try? RunDirectory.read(runs + "/" + id), record.status == .success, record.partial != true,
                !record.jobs.isEmpty, record.jobs.allSatisfy({ $0.status == .success || $0.status == .cached || $0.status == .skipped }),
                let git = record.git, git["branch"] == branch, let commit = git["commit"], !commit.isEmpty
            else { continue }
            return commit
        }
        return nil
    }
}
