import Foundation
import ShipgateCache
import ShipgateJobCache
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

extension JobExecutor {
    /// Computes the key and restores the job when an entry exists. Returns the cached result
    /// (nil: run the job) and the decision (nil only when the cache is not used for this job).
    func lookup(
        _ job: PlannedJob, spec: CacheSpec, prepared: [PreparedStep], needed: [String: JobResult], cache: CacheContext
    ) async -> (JobResult?, CacheDecision?) {
        var decision = CacheDecision(job: job.id, status: .miss, reasons: [])
        let builder = CacheKeyBuilder(context: cache, runner: runner, environment: environmentBase, workspace: options.workspace)
        let components: KeyComponents
        do {
            components = try await builder.components(
                job: job, spec: spec, scripts: prepared.map(\.script), directories: prepared.map(\.relativeDirectory), envs: prepared.map(\.env),
                needs: CacheKeyBuilder.needContributions(job, needed: needed), jobEnv: try commandEnvironment(job, needed: needed))
        } catch {
            decision.status = .error
            decision.reasons = ["cannot compute the cache key: \(error)"]
            notice(job.id, .warning, "not cached: cannot compute the cache key: \(error)")
            record(decision)
            return (nil, nil)
        }
        let key = components.key
        decision.key = key
        decision.components = components
        guard cache.lookups else {
            decision.reasons = ["--no-cache"]
            record(decision)
            return (nil, decision)
        }

        // The no-op fast path: the entry's files are in the workspace as this job last left them.
        if job.artifacts == nil,
            let fresh = cache.fresh.upToDate(job: job.id, key: key, root: options.workspace, entryPath: cache.local.entryPath(.action, key)),
            cache.local.touchEntry(.action, key)
        {
            var result = JobResult(id: job.id, status: .cached, attempts: 0, reason: nil, outputs: fresh.outputs, continueOnError: job.continueOnError)
            result.cacheKey = key
            result.cachedFrom = fresh.runID
            decision.status = .hit
            decision.components = nil
            decision.cachedFrom = fresh.runID
            decision.source = "local"
            let files = fresh.files.count == 1 ? "1 file" : "\(fresh.files.count) files"
            decision.reasons = ["entry \(key.prefix(12))… from run \(fresh.runID); its \(files) unchanged in the workspace since restored or stored"]
            record(decision)
            notice(job.id, .info, "cached: same key as run \(fresh.runID); \(files) already in place")
            return (result, decision)
        }

        var entry = cache.local.readEntry(.action, key, as: ActionEntry.self)
        var source = "local"
        if entry == nil, let remote = cache.remote {
            entry = await fetchRemote(key, remote: remote, cache: cache, job: job.id)
            source = "remote"
        }
        if let entry {
            do {
                var seen = Set<String>()
                let toRestore = (entry.files + entry.artifacts).filter { seen.insert($0.path).inserted }
                let written = try cache.files.restore(toRestore, into: options.workspace)
                if written > 0 { cache.invalidateTree() }
                var result = JobResult(id: job.id, status: .cached, attempts: 0, reason: nil, outputs: entry.outputs, continueOnError: job.continueOnError)
                result.cacheKey = key
                result.cachedFrom = entry.runID
                if !entry.artifacts.isEmpty { result.artifactsDigest = writeArtifactManifest(job, files: entry.artifacts) }
                decision.status = .hit
                decision.components = nil  // what matters for a hit is where it came from
                decision.cachedFrom = entry.runID
                decision.source = source
                decision.reasons = ["entry \(key.prefix(12))… from run \(entry.runID)"]
                record(decision)
                cache.saveLast(job: job.id, components, key: key)
                if entry.artifacts.isEmpty {
                    cache.fresh.record(
                        job: job.id, key: key, runID: entry.runID, outputs: entry.outputs, files: toRestore, root: options.workspace,
                        entryPath: cache.local.entryPath(.action, key), digest: { try? cache.statCache.digest(root: options.workspace, relative: $0) })
                }
                let restored = toRestore.count
                if restored == 0 {
                    notice(job.id, .info, "cached: same key as run \(entry.runID)\(source == "remote" ? " (remote cache)" : ""); nothing to restore")
                } else {
                    let already = written < restored ? ", \(restored - written) already in place" : ""
                    notice(
                        job.id, .info,
                        "cached: restored \(restored) file\(restored == 1 ? "" : "s") from run \(entry.runID)\(source == "remote" ? " (remote cache)" : "")\(already)"
                    )
                }
                return (result, decision)
            } catch CacheError.unsafePath(let path, let reason) {
                // The workspace, not the entry, is the problem (e.g. a directory replaced by a
                // symlink): nothing is written through it, and the entry is kept.
                notice(job.id, .warning, "not restoring from the cache: `\(path)` is unsafe to write (\(reason)); running the job")
                decision.reasons = ["the workspace has an unsafe path: \(path) (\(reason))"]
                record(decision)
                return (nil, decision)
            } catch {
                cache.local.removeEntry(.action, key)
                notice(job.id, .warning, "cache entry \(key.prefix(12))… is damaged and was removed (\(error)); running the job")
                decision.reasons = ["the cache entry was damaged: \(error)"]
                record(decision)
                return (nil, decision)
            }
        }
        cache.fresh.forget(job: job.id)
        decision.reasons = cache.missReasons(job: job.id, components)
        record(decision)
        notice(job.id, .info, "cache miss: \(decision.reasons.joined(separator: "; "))")
        return (nil, decision)
    }

    /// Stores the job's outputs after a successful run. Problems are warnings, except an
    /// output that escapes the workspace, which fails the job.
    func store(
        _ job: PlannedJob, spec: CacheSpec, decision: CacheDecision, artifacts: [FileEntry], root: String, result: inout JobResult, cache: CacheContext
    ) async {
        guard let key = decision.key, let components = decision.components else { return }
        // A private workspace's changes never reach the inputs the key was computed from.
        if root == options.workspace, let changed = changedInputs(spec, before: components.inputs, cache: cache), !changed.isEmpty {
            let shown = changed.prefix(3).map { "`\($0)`" }.joined(separator: ", ") + (changed.count > 3 ? ", …" : "")
            notice(
                job.id, .warning,
                "job `\(job.id)` changed \(changed.count) of its own inputs (\(shown)); it will never be cached: "
                    + "exclude the files it writes from `inputs` (git-ignored files already are)")
            return
        }
        let files: [FileEntry]
        do {
            files = try cache.files.collect(root: root, filter: PathFilter(spec.outputs.map(\.value)), skip: cache.skip)
        } catch CacheError.unsafePath(let path, let reason) {
            result.status = .failed
            result.reason = "output `\(path)` cannot be cached: \(reason)"
            return
        } catch {
            notice(job.id, .warning, "cache not saved: \(error)")
            return
        }
        if files.isEmpty && !spec.outputs.isEmpty {
            notice(job.id, .warning, "`outputs` matched no file; caching the job's success without files")
        }
        let entry = ActionEntry(
            key: key, job: job.id, runID: options.runID, createdAt: Date(), files: files, artifacts: artifacts, outputs: result.outputs)
        do {
            try cache.local.writeEntry(.action, key, entry)
        } catch {
            notice(job.id, .warning, "cache not saved: \(error)")
            return
        }
        result.cacheKey = key
        cache.saveLast(job: job.id, components, key: key)
        if root == options.workspace && artifacts.isEmpty {
            cache.fresh.record(
                job: job.id, key: key, runID: options.runID, outputs: result.outputs, files: files, root: root,
                entryPath: cache.local.entryPath(.action, key), digest: { try? cache.statCache.digest(root: root, relative: $0) })
        } else {
            cache.fresh.forget(job: job.id)
        }
        if let remote = cache.remote { await upload(entry, to: remote, cache: cache) }
    }

    /// The inputs (sorted) whose content differs from `before`, or that appeared or went away,
    /// now that the job has run; nil when they cannot be read. An entry stored under the key of
    /// before would not replay those changes, so none is stored.
    func changedInputs(_ spec: CacheSpec, before: [String: String], cache: CacheContext) -> [String]? {
        let now = cache.files(matching: spec.inputs.map(\.value), skippingIgnored: spec.includeIgnored != true)
        guard let digests = try? cache.digests(of: now) else { return nil }
        var changed = Set(now.filter { before[$0] != digests[$0] })
        changed.formUnion(before.keys.filter { digests[$0] == nil })
        return changed.sorted()
    }

    func upload(_ entry: ActionEntry, to remote: RemoteCache, cache: CacheContext) async {
        if case .unavailable(let reason) = await RemoteEntries(remote: remote, local: cache.local).upload(entry) { warnRemoteOnce(reason) }
    }

    func fetchRemote(_ key: String, remote: RemoteCache, cache: CacheContext, job: String) async -> ActionEntry? {
        let (entry, problem) = await RemoteEntries(remote: remote, local: cache.local).fetch(key)
        switch problem {
        case .unavailable(let reason): warnRemoteOnce(reason)
        case .entry(let message): notice(job, .warning, message)
        case nil: break
        }
        return entry
    }

    func warnRemoteOnce(_ reason: String) {
        if remoteWarnings.claim() { notice(nil, .warning, "\(reason); continuing without the remote cache") }
    }

    /// Appends the decision to the run's `cache.jsonl` (one line per job; `explain` reads it).
    func record(_ decision: CacheDecision) {
        decisions.append(decision.jsonLine)
    }
}

/// A flag that lets exactly one caller through (one warning per run, however many jobs hit it).
final class OnceFlag: Sendable {
    private let state = Locked(false)
    func claim() -> Bool {
        state.withLock { was in
            defer { was = true }
            return !was
        }
    }
}
