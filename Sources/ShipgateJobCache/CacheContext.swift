import Foundation
import ShipgateCache
import ShipgateModel
import ShipgateProcess

/// The cache as one run (or one `plan`) sees it: the local store, the stat cache, an optional
/// remote, and the workspace's file listings.
///
/// Contract: `lookups` false (`--no-cache`) makes every job run but results are still stored.
/// `readOnly` (used by `plan`) never writes: no entry is touched, no stat cache saved.
/// Listings of the workspace are reused between jobs until `invalidateTree()` (called when a
/// job ran or restored files, since that may change what inputs match). Thread-safe.
public final class CacheContext: @unchecked Sendable {
    public let local: LocalCache
    public let statCache: StatCache
    /// Git blob ids of input files, remembered by stat data (`inputs.tsv`).
    public let inputIDs: StatCache
    /// Jobs whose entry's files are in the workspace as restored or stored (the no-op fast path).
    public let fresh: FreshRecords
    /// Blob ids that git's index vouches for (tracked, unmodified files), read without hashing.
    /// Set by the caller when the workspace is in a repository; nil hashes every input.
    public let trackedBlobID: (@Sendable (String) -> String?)?
    /// Whether git ignores a workspace-relative path (`isDirectory` second): ignored files are
    /// not `inputs` unless the job says `include-ignored`. Nil outside a repository.
    public let ignored: (@Sendable (String, Bool) -> Bool)?
    public let remote: RemoteCache?
    public let workspace: String
    public let lookups: Bool
    public let readOnly: Bool
    /// Workspace-relative directories never read as inputs or outputs (the state directory).
    public let skip: Set<String>
    public let files: FileSet
    private let lock = NSLock()
    private var walker: FileWalker

    public init(
        stateDirectory: String, workspace: String, remote: RemoteCache? = nil, lookups: Bool = true, readOnly: Bool = false,
        trackedBlobID: (@Sendable (String) -> String?)? = nil, ignored: (@Sendable (String, Bool) -> Bool)? = nil, racyWindow: Double = 2
    ) throws {
        self.trackedBlobID = trackedBlobID
        self.ignored = ignored
        let root = stateDirectory + "/cache"
        local = try LocalCache(root: root)
        // `plan` reads the stat cache too; `finish()` only saves it when not read-only.
        statCache = StatCache(path: root + "/stat.tsv")
        inputIDs = StatCache(path: root + "/inputs.tsv", hasher: { try Digest.gitBlobID($0) })
        fresh = FreshRecords(path: root + "/fresh.tsv", racyWindow: racyWindow)
        self.remote = remote
        self.workspace = workspace
        self.lookups = lookups
        self.readOnly = readOnly
        var skip: Set<String> = []
        if stateDirectory.hasPrefix(workspace + "/") { skip.insert(String(stateDirectory.dropFirst(workspace.count + 1))) }
        self.skip = skip
        walker = FileWalker(root: workspace, skip: skip)
        files = FileSet(cache: local, statCache: statCache)
    }

    /// Files matched by patterns (include and `!exclude`), workspace-relative and sorted.
    /// With `skippingIgnored`, files git ignores are left out (see `ignored`).
    public func files(matching patterns: [String], skippingIgnored: Bool = false) -> [String] {
        let current = lock.withLock { walker }
        guard skippingIgnored, let ignored else { return current.files(matching: PathFilter(patterns)) }
        return current.files(matching: PathFilter(patterns), ignored: { ignored($0, $1) })
    }

    public func invalidateTree() {
        lock.withLock { walker = FileWalker(root: workspace, skip: skip) }
    }

    /// Git blob ids of the given workspace files (see `KeyComponents`): from git's index when it
    /// vouches for a file, else from the stat cache, else by reading the file. In parallel when
    /// there are many.
    public func digests(of paths: [String]) throws -> [String: String] {
        if paths.count <= 256 {
            var map: [String: String] = [:]
            map.reserveCapacity(paths.count)
            for path in paths { map[path] = try inputID(path) }
            return map
        }
        var results = [String?](repeating: nil, count: paths.count)
        let failure = Locked<String?>(nil)
        let chunk = 64
        let chunks = (paths.count + chunk - 1) / chunk
        results.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeSendable(buffer)
            DispatchQueue.concurrentPerform(iterations: max(chunks, 1)) { c in
                guard c * chunk < paths.count else { return }
                for i in (c * chunk)..<min(paths.count, (c + 1) * chunk) {
                    do { base.value[i] = try inputID(paths[i]) } catch {
                        failure.withLock { $0 = $0 ?? "\(error)" }
                    }
                }
            }
        }
        if let message = failure.value { throw CacheError.io("cannot hash input: \(message)") }
        var map: [String: String] = [:]
        for (path, digest) in zip(paths, results) { map[path] = digest }
        return map
    }

    private func inputID(_ path: String) throws -> String {
        if let id = trackedBlobID?(path) { return id }
        return try inputIDs.digest(root: workspace, relative: path)
    }

    /// `hashFiles(…)`: SHA-256 over `path NUL digest LF` of every matched file, sorted by path;
    /// the empty string when nothing matches (as in GitHub Actions).
    public func hashFiles(_ patterns: [String]) throws -> String {
        let matched = files(matching: patterns)
        if matched.isEmpty { return "" }
        let digests = try digests(of: matched)
        return Digest.sha256(matched.map { "\($0)\u{0}\(digests[$0]!)\n" }.joined())
    }

    /// Resolves what is only known when a job starts: `${{ needs.J.outputs.K }}` from `outputs`
    /// (missing: empty) and `hashFiles(…)`. Other expressions were resolved by the planner.
    public static func resolve(_ template: Template, outputs: [String: [String: String]], cache: CacheContext?) throws -> String {
        var failure: (any Error)?
        let text = template.resolving { e in
            switch e {
            case .needsOutput(let j, let k): return outputs[j]?[k] ?? ""
            case .hashFiles(let patterns):
                guard let cache else { return "" }
                do { return try cache.hashFiles(patterns) } catch {
                    failure = failure ?? error
                    return ""
                }
            default: return nil
            }
        }.description
        if let failure { throw CacheError.io("cannot evaluate hashFiles: \(failure)") }
        return text
    }

    // MARK: - Last components per job, for "why did this run"

    private func lastPath(_ job: String) -> String { local.root + "/last/" + Digest.sha256(job) + ".json" }

    /// File format: the key on the first line, then the components as JSON.
    public func lastComponents(job: String) -> KeyComponents? {
        guard let data = FileManager.default.contents(atPath: lastPath(job)), let newline = data.firstIndex(of: 10) else { return nil }
        return try? JSONDecoder().decode(KeyComponents.self, from: data[data.index(after: newline)...])
    }

    /// Remembers `components` as this job's latest key; skips the write when the key is the same
    /// (a cached rerun then writes nothing).
    public func saveLast(job: String, _ components: KeyComponents, key: String) {
        guard !readOnly else { return }
        let path = lastPath(job)
        if let handle = FileHandle(forReadingAtPath: path) {
            let head = (try? handle.read(upToCount: 64)) ?? Data()
            try? handle.close()
            if head == Data(key.utf8) { return }
        }
        try? AtomicFile.write(Data((key + "\n" + components.jsonText).utf8), to: path)
    }

    /// Why `components` has no entry, in words.
    public func missReasons(job: String, _ components: KeyComponents) -> [String] {
        guard let last = lastComponents(job: job) else { return ["no entry (first run of this job with the cache)"] }
        let differences = components.differences(from: last)
        return differences.isEmpty ? ["no entry for this key (the last run with these inputs did not store one, or it was pruned)"] : differences
    }

    public func finish() {
        if !readOnly {
            statCache.save()
            inputIDs.save()
            fresh.save()
        }
    }
}

/// Lets a buffer cross into `concurrentPerform`; each iteration writes distinct indices.
struct UnsafeSendable<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

extension NSLock {
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
