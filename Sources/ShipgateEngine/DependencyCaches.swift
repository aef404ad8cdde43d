import Foundation
import ShipgateCache
import ShipgateJobCache
import ShipgateModel
import ShipgatePlanning

/// `caches:` — directories kept between runs by a key the user chooses (like actions/cache).
/// Entries are `deps/<DependencyEntry.name(key:paths:)>.json` in the local cache (the key and
/// the `paths` patterns are the identity); the remote cache is not used. Symlinks are stored and
/// restored as links (`FileSet.LinkPolicy.verbatim`); `~/` patterns are under the run's `$HOME`.
extension JobExecutor {
    struct PendingSave {
        var key: String
        var cache: DependencyCache
        var paths: DependencyPaths
    }

    /// Restores every dependency cache (exact key, else the newest entry whose key starts with a
    /// restore key, for the same `paths`) and returns those whose exact key missed, to be saved
    /// after success.
    func restoreDependencyCaches(_ job: PlannedJob, needed: [String: JobResult], root: String, cache: CacheContext) -> [PendingSave] {
        var missed: [PendingSave] = []
        for dc in job.dependencyCaches {
            let key: String
            let restoreKeys: [String]
            let paths: DependencyPaths
            do {
                key = try resolveNow(dc.key, needed: needed)
                restoreKeys = try dc.restoreKeys.map { try resolveNow($0, needed: needed) }
                paths = try DependencyPaths(dc.paths.map(\.value), home: options.baseEnvironment["HOME"])
            } catch {
                notice(job.id, .warning, "cache skipped: \(error)")
                continue
            }
            let name = DependencyEntry.name(key: key, paths: paths.patterns)
            if let entry = cache.local.readEntry(.dependency, name, as: DependencyEntry.self) {
                restoreEntry(entry, paths: paths, job: job, root: root, cache: cache, message: "cache `\(key)`: restored (\(entry.count) files)")
                continue
            }
            missed.append(PendingSave(key: key, cache: dc, paths: paths))
            let candidates = cache.local.entries(.dependency).compactMap { cache.local.peekEntry(.dependency, $0.name, as: DependencyEntry.self) }
                .filter { $0.paths == paths.patterns }
            var restored = false
            for prefix in restoreKeys {
                if let best = candidates.filter({ $0.key.hasPrefix(prefix) }).max(by: { $0.createdAt < $1.createdAt }) {
                    restoreEntry(
                        best, paths: paths, job: job, root: root, cache: cache,
                        message: "cache `\(key)`: not found; restored `\(best.key)` (restore key `\(prefix)`)")
                    restored = true
                    break
                }
            }
            if !restored { notice(job.id, .info, "cache `\(key)`: not found; it will be saved if the job succeeds") }
        }
        return missed
    }

    func restoreEntry(_ entry: DependencyEntry, paths: DependencyPaths, job: PlannedJob, root: String, cache: CacheContext, message: String) {
        do {
            try cache.files.restore(entry.files, into: root, links: .verbatim)
            if let home = entry.home, !home.isEmpty {
                guard let root = paths.home else { throw CacheError.io("the entry has files under `~/` but $HOME is not set") }
                try cache.files.restore(home, into: root, links: .verbatim)
            }
            cache.invalidateTree()
            notice(job.id, .info, message)
        } catch {
            notice(job.id, .warning, "cache `\(entry.key)` could not be restored: \(error)")
        }
    }

    func saveDependencyCaches(_ job: PlannedJob, missed: [PendingSave], root workspaceRoot: String, cache: CacheContext) {
        for pending in missed {
            let paths = pending.paths
            do {
                let files =
                    paths.workspace.isEmpty
                    ? []
                    : try cache.files.collect(
                        root: workspaceRoot, filter: PathFilter(paths.workspace, takingDirectories: true), skip: cache.skip, links: .verbatim)
                var home: [FileEntry] = []
                if let root = paths.home, !paths.inHome.isEmpty {
                    home = try cache.files.collect(
                        root: root, filter: PathFilter(paths.inHome, takingDirectories: true), skip: paths.homeSkip(stateDirectory: cache.local.root),
                        links: .verbatim)
                }
                if files.isEmpty && home.isEmpty {
                    notice(
                        job.id, .warning,
                        "cache `\(pending.key)`: `paths` matched no file (\(paths.patterns.joined(separator: ", "))); nothing saved. "
                            + "Paths are relative to the workspace root, or to $HOME with `~/`")
                    continue
                }
                let entry = DependencyEntry(key: pending.key, paths: paths.patterns, createdAt: Date(), files: files, home: home.isEmpty ? nil : home)
                try cache.local.writeEntry(.dependency, DependencyEntry.name(key: pending.key, paths: paths.patterns), entry)
                let size = (files + home).reduce(0) { $0 + $1.size }
                notice(job.id, .info, "cache `\(pending.key)`: saved \(entry.count) files (\(Self.bytes(size)))")
            } catch {
                notice(job.id, .warning, "cache `\(pending.key)` not saved: \(error)")
            }
        }
    }

    /// Resolves needs outputs and `hashFiles` in a template, now.
    func resolveNow(_ template: Template, needed: [String: JobResult]) throws -> String {
        try CacheContext.resolve(template.expandingVariables(variableEnvironment), outputs: needed.mapValues(\.outputs), cache: cache)
    }
}

/// The `paths` of one dependency cache, split by root: workspace-relative patterns, and `~/`
/// patterns relative to `$HOME`. A `!` exclude applies to the root its path names.
struct DependencyPaths: Sendable {
    /// As written (matrix values resolved): the entry's identity.
    var patterns: [String]
    var workspace: [String] = []
    var inHome: [String] = []
    var home: String?

    struct NoHome: Error, CustomStringConvertible {
        var description: String { "`paths` has `~/` patterns, but $HOME is not set to an absolute path" }
    }

    init(_ patterns: [String], home: String?) throws {
        self.patterns = patterns
        for pattern in patterns {
            let exclude = pattern.hasPrefix("!")
            let body = exclude ? String(pattern.dropFirst()) : pattern
            if body.hasPrefix("~/") {
                inHome.append((exclude ? "!" : "") + body.dropFirst(2))
            } else {
                self.workspace.append(pattern)
            }
        }
        if !inHome.isEmpty {
            guard let home, home.hasPrefix("/") else { throw NoHome() }
            self.home = home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        }
    }

    /// Directories under `$HOME` a walk must not enter: shipgate's own cache, when it is there.
    func homeSkip(stateDirectory: String) -> Set<String> {
        guard let home, stateDirectory.hasPrefix(home + "/") else { return [] }
        return [String(stateDirectory.dropFirst(home.count + 1))]
    }
}
