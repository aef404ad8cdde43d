import Foundation
import ShipgateCache
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

/// Tells `plan` which jobs the cache would restore and why the others would run, without
/// side effects: entries are only peeked at, nothing is written (the stat cache is used but
/// not saved). `cache-key-extra` commands do run: they must be read-only (tool versions).
public struct CacheAdvisor: Sendable {
    public let context: CacheContext
    public let runner: any ProcessRunner
    public let environment: [String: String]

    public init(context: CacheContext, runner: any ProcessRunner, environment: [String: String]) {
        self.context = context
        self.runner = runner
        self.environment = environment
    }

    public func annotate(_ plan: ExecutionPlan) async -> ExecutionPlan {
        var plan = plan
        let builder = CacheKeyBuilder(context: context, runner: runner, environment: ProcessEnvironment.Base(environment), workspace: context.workspace)
        // What each job would hand its dependents: key, outputs (when restored), artifacts.
        var predicted: [String: Predicted] = [:]
        var unknownOutputs = Set<String>()
        let publishesArtifacts = Set(plan.jobs.filter { $0.artifacts != nil }.map(\.id))
        for index in plan.jobs.indices where plan.jobs[index].status != .skip {
            let job = plan.jobs[index]
            guard let spec = job.cache else {
                plan.jobs[index].reason = Self.add(plan.jobs[index].reason, "runs: not cacheable (no `inputs`)")
                unknownOutputs.insert(job.id)
                continue
            }
            if !context.lookups {
                plan.jobs[index].reason = Self.add(plan.jobs[index].reason, "runs: --no-cache")
                unknownOutputs.insert(job.id)
                continue
            }
            if let blocker = blockingDependency(job, unknown: unknownOutputs, publishesArtifacts: publishesArtifacts) {
                plan.jobs[index].reason = Self.add(plan.jobs[index].reason, "runs: \(blocker)")
                unknownOutputs.insert(job.id)
                continue
            }
            do {
                let steps = try job.steps.map { step -> (String, [String: String], String?) in
                    let r = { (t: Template) in try self.resolve(t, predicted: predicted) }
                    return (
                        try r(step.script), Dictionary(try step.env.map { ($0.name, try r($0.value)) }, uniquingKeysWith: { _, b in b }),
                        try step.workingDirectory.map(r)
                    )
                }
                let components = try await builder.components(
                    job: job, spec: spec, scripts: steps.map(\.0), directories: steps.map(\.2), envs: steps.map(\.1),
                    needs: CacheKeyBuilder.needContributions(job, needed: predicted),
                    jobEnv: Dictionary(try job.env.map { ($0.name, try resolve($0.value, predicted: predicted)) }, uniquingKeysWith: { _, b in b }))
                let key = components.key
                plan.jobs[index].cacheKey = key
                var result = Predicted(cacheKey: key)
                if job.artifacts == nil,
                    let fresh = context.fresh.upToDate(job: job.id, key: key, root: context.workspace, entryPath: context.local.entryPath(.action, key))
                {
                    plan.jobs[index].status = .cached
                    plan.jobs[index].reason = Self.add(plan.jobs[index].reason, "cached: entry from run \(fresh.runID)")
                    result.outputs = fresh.outputs
                } else if let entry = context.local.peekEntry(.action, key, as: ActionEntry.self) {
                    plan.jobs[index].status = .cached
                    plan.jobs[index].reason = Self.add(plan.jobs[index].reason, "cached: entry from run \(entry.runID)")
                    result.outputs = entry.outputs
                    if !entry.artifacts.isEmpty { result.artifactsDigest = ArtifactManifest.digest(of: entry.artifacts) }
                } else {
                    plan.jobs[index].reason = Self.add(plan.jobs[index].reason, "runs: " + context.missReasons(job: job.id, components).joined(separator: "; "))
                    unknownOutputs.insert(job.id)
                }
                predicted[job.id] = result
            } catch {
                plan.jobs[index].reason = Self.add(plan.jobs[index].reason, "runs: cannot compute the cache key: \(error)")
                unknownOutputs.insert(job.id)
            }
        }
        context.finish()
        return plan
    }

    /// Why the key cannot be known before running: the job reads outputs (or artifacts) of a
    /// needed job that will run first.
    private func blockingDependency(_ job: PlannedJob, unknown: Set<String>, publishesArtifacts: Set<String>) -> String? {
        for need in job.outputDependencies.sorted() where unknown.contains(need) {
            return "uses outputs of `\(need)`, which runs first (decided when it has run)"
        }
        for need in job.needs where unknown.contains(need) && publishesArtifacts.contains(need) {
            return "uses artifacts of `\(need)`, which runs first (decided when it has run)"
        }
        return nil
    }

    /// A rule's note (`runs: changes: … matched`) stays first; the cache's reason follows it.
    public static func add(_ existing: String?, _ reason: String) -> String {
        guard let existing, existing.hasPrefix("runs: ") else { return reason }
        return existing + "; " + (reason.hasPrefix("runs: ") ? String(reason.dropFirst(6)) : reason)
    }

    /// What a job would hand its dependents, as far as the cache can tell before running.
    struct Predicted: CacheFacts {
        var cacheKey: String?
        var artifactsDigest: String?
        var outputs: [String: String] = [:]
    }

    private func resolve(_ template: Template, predicted: [String: Predicted]) throws -> String {
        try CacheContext.resolve(template.expandingVariables(environment), outputs: predicted.mapValues(\.outputs), cache: context)
    }
}
