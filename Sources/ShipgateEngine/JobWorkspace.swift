import Foundation
import ShipgateCache
import ShipgateModel
import ShipgatePlanning

/// `isolation: { workspace: private }` for one job (see `PrivateWorkspace` for what the copy
/// holds): what goes in, and what flows back.
extension JobExecutor {
    /// The copy a job runs in: the workspace's files git does not ignore, the declared
    /// `outputs` of every job it needs (directly or through others), and its own ignored
    /// inputs when it says `include-ignored`.
    func makePrivateWorkspace(for job: PlannedJob) throws -> PrivateWorkspace {
        let directory = options.stateDirectory + "/workspaces"
        if sweptWorkspaces.claim() { PrivateWorkspace.sweep(directory) }
        // The cache's listing knows what git ignores; without a cache nothing is ignored.
        func list(_ patterns: [String], skippingIgnored: Bool) -> [String] {
            cache?.files(matching: patterns, skippingIgnored: skippingIgnored)
                ?? FileWalker(root: options.workspace).files(matching: PathFilter(patterns))
        }
        var files = Set(list(["**"], skippingIgnored: true))
        let extra = neededOutputs(of: job) + (job.cache?.includeIgnored == true ? job.cache!.inputs.map(\.value) : [])
        if extra.contains(where: { !$0.hasPrefix("!") }) { files.formUnion(list(extra, skippingIgnored: false)) }
        return try PrivateWorkspace.create(from: options.workspace, files: files.sorted(), in: directory)
    }

    /// Output patterns of the jobs `job` needs, transitively.
    func neededOutputs(of job: PlannedJob) -> [String] {
        var seen: Set<String> = []
        var queue = job.needs
        var patterns: [String] = []
        while let id = queue.popLast() {
            guard seen.insert(id).inserted, let producer = producers[id] else { continue }
            patterns += producer.outputs.filter { !$0.hasPrefix("!") }
            queue += producer.needs
        }
        return patterns
    }

    /// After success: the job's declared `outputs` and `artifacts` go from the copy to the
    /// workspace, replacing what is there, so later jobs see them as if the job ran in place.
    /// A failure to copy fails the job (its dependents would miss the files).
    func copyBack(_ job: PlannedJob, from copy: PrivateWorkspace, log: JobLog, result: inout JobResult) {
        let patterns = job.outputs + (job.artifacts?.paths.map(\.value) ?? [])
        guard patterns.contains(where: { !$0.hasPrefix("!") }) else { return }
        do {
            let count = try copy.copyBack(matching: PathFilter(patterns), into: options.workspace)
            log.mark("== \(job.id): \(count) declared output file\(count == 1 ? "" : "s") copied back to the workspace ==")
            if count > 0 { cache?.invalidateTree() }
        } catch {
            result.status = .failed
            result.reason = "`isolation: { workspace: private }`: \(error)"
        }
    }
}
