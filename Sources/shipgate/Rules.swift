import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateGit
import ShipgatePlanning

/// `--base` and the inputs of `when:` rules, shared by `run` and `plan`.
struct RuleOptions: ParsableArguments {
    @Option(help: "Compare with this revision for `when: changes` (default: PR base, merge base with the default branch, or the last successful run).")
    var base: String?

    /// Branch, tags and changed paths for the planner. Only computed when a job has `when:`.
    func inputs(needed: Bool, context: RunContext, workspace: Workspace, environment: [String: String]) -> RuleInputs? {
        guard needed else { return nil }
        let branch = context.git?.branch
        let changes = Changes.detect(
            workspace: workspace.root, environment: environment, explicitBase: base, branch: branch,
            lastSuccessfulCommit: branch.flatMap { Self.lastSuccessfulCommit(stateDirectory: workspace.stateDirectory, branch: $0) })
        return RuleInputs(
            branch: branch, tags: context.git?.tags ?? [], gitUnavailable: context.git == nil ? context.unavailable ?? "no git context" : nil,
            changedPaths: changes.paths, base: changes.base, changesUnavailable: changes.unavailable)
    }

    /// The commit of the newest successful run on `branch`, from the run records.
    static func lastSuccessfulCommit(stateDirectory: String, branch: String) -> String? {
        let runs = stateDirectory + "/runs"
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).sorted(by: >)
        for id in ids.prefix(200) {
            guard let record = try? RunDirectory.read(runs + "/" + id), record.status == .success,
                let git = record.git, git["branch"] == branch, let commit = git["commit"], !commit.isEmpty
            else { continue }
            return commit
        }
        return nil
    }
}
