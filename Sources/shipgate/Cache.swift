import ArgumentParser
import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateJobCache
import ShipgateLoading
import ShipgateModel
import ShipgateRelease
import ShipgateState

extension Shipgate {
    struct Cache: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cache",
            abstract: "Inspect, verify and prune the local cache.", subcommands: [Stats.self, Verify.self, Prune.self])

        struct Stats: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "stats", abstract: "Entries, size, and the hit rate of recent runs.")
            @Option(help: "State directory (default: .shipgate here; env SHIPGATE_STATE_DIR).") var stateDir: String?
            @Option(help: "How many recent runs the hit rate covers.") var runs = 20

            func run() async throws {
                let dirs = RunsDirectory(explicit: stateDir)
                let cache = try LocalCache(root: dirs.state + "/cache")
                let actions = cache.entries(.action), deps = cache.entries(.dependency)
                let blobs = cache.blobs()
                let bytes = blobs.reduce(Int64(0)) { $0 + $1.bytes }
                print("cache: \(dirs.state)/cache")
                print("  job entries:        \(actions.count)")
                print("  dependency caches:  \(deps.count)")
                print("  @actions/cache:     \(cache.entries(.actionsCache).count)")
                print("  blobs:              \(blobs.count) (\(Self.size(bytes)))")
                var hits = 0, misses = 0
                for id in dirs.runIDs.suffix(runs) {
                    guard let record = try? RunDirectory.read(dirs.state + "/runs/" + id) else { continue }
                    for job in record.jobs where job.cacheKey != nil || job.status == .cached {
                        if job.status == .cached { hits += 1 } else { misses += 1 }
                    }
                }
                let total = hits + misses
                print(
                    "  hit rate:           "
                        + (total == 0
                            ? "no cacheable jobs in the last \(runs) runs"
                            : "\(hits * 100 / total)% (\(hits) of \(total) cacheable jobs, last \(min(runs, dirs.runIDs.count)) runs)"))
            }

            static func size(_ n: Int64) -> String {
                let units = ["B", "KiB", "MiB", "GiB", "TiB"]
                var value = Double(n)
                var unit = 0
                while value >= 1024 && unit < units.count - 1 {
                    value /= 1024
                    unit += 1
                }
                return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
            }
        }

        struct Verify: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "verify",
                abstract: "Check every blob against its digest and every entry's blobs; exit 1 when something is damaged.",
                discussion: "Changes nothing. A damaged blob or entry is also caught (and removed) when a run reads it; this finds them all now.")
            @Option(help: "State directory (default: .shipgate here; env SHIPGATE_STATE_DIR).") var stateDir: String?

            func run() throws {
                let dirs = RunsDirectory(explicit: stateDir)
                guard FileManager.default.fileExists(atPath: dirs.state + "/cache") else {
                    print("no cache at \(dirs.state)/cache")
                    return
                }
                let cache = try LocalCache(root: dirs.state + "/cache")
                let result = cache.verify()
                for p in result.problems { print("damaged: \(p)") }
                print(
                    "\(result.blobs) blob\(result.blobs == 1 ? "" : "s") and \(result.entries) entr\(result.entries == 1 ? "y" : "ies") checked: \(result.problems.isEmpty ? "all sound" : "\(result.problems.count) damaged")"
                )
                if !result.problems.isEmpty { throw ExitWith(code: Exit.jobFailed) }
            }
        }

        struct Prune: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "prune",
                abstract: "Remove least recently used entries until the cache fits, then unreferenced blobs.",
                discussion: "Blobs still referenced by an entry, or by a run's artifacts that have not expired, are kept.")
            @Option(help: "Keep at most this much (e.g. 5G, 500M).") var maxSize: String?
            @Option(help: "Remove entries unused for longer than this (e.g. 30d).") var maxAge: String?
            @Option(help: "State directory (default: .shipgate here; env SHIPGATE_STATE_DIR).") var stateDir: String?
            @Option(name: .customLong("state"), help: "State store whose releases' artifacts are kept (postgres://… or sqlite:PATH; env SHIPGATE_STATE_URL).")
            var stateURL: String?

            func validate() throws {
                if let maxSize, Self.parseSize(maxSize) == nil { throw ValidationError("--max-size: expected a size like 500M or 5G, got `\(maxSize)`") }
                if let maxAge, TimeSpan.parse(maxAge) == nil { throw ValidationError("--max-age: expected a duration like 30d, got `\(maxAge)`") }
            }

            func run() async throws {
                let dirs = RunsDirectory(explicit: stateDir)
                let cache = try LocalCache(root: dirs.state + "/cache")
                guard let lock = cache.lock(exclusive: true) else { throw ValidationError("cannot lock \(cache.root)") }
                defer { lock.release() }
                let report = await CachePruner(
                    cache: cache, runsDirectory: dirs.state + "/runs",
                    retained: try Self.retainedReleaseBlobs(stateDirectory: dirs.state, url: StateLocation.url(stateURL))
                )
                .prune(maxBytes: maxSize.flatMap(Self.parseSize), maxAge: maxAge.flatMap(TimeSpan.parse), now: Date())
                print(
                    "removed \(report.entriesRemoved) entr\(report.entriesRemoved == 1 ? "y" : "ies") and \(report.blobsRemoved) blob\(report.blobsRemoved == 1 ? "" : "s") (\(Stats.size(report.bytesFreed))); \(Stats.size(report.bytesKept)) kept"
                )
            }

            /// Artifact blobs of the newest good releases per environment (`retain-releases`, read
            /// from the default pipeline file when there is one, else 5): rollbacks need them.
            static func retainedReleaseBlobs(stateDirectory: String, url: String?) async throws -> Set<String> {
                guard StateLocation.exists(url: url, stateDirectory: stateDirectory) else { return [] }
                let store: any StateStore
                do { store = try await StateLocation.open(url: url, stateDirectory: stateDirectory) } catch {
                    throw fail("\(error)", hint: "prune refuses to run when it cannot tell which release artifacts to keep")
                }
                let pipeline = PipelineOptions.defaultFiles.lazy.compactMap { PipelineLoader.load(path: $0).pipeline }.first
                let rows = try await store.retainedFiles { env in pipeline?.environment(env)?.retainReleases ?? 5 }
                return Set(rows.flatMap { DeployController.decodeFiles($0.files) ?? [] }.filter { $0.kind == .file }.map(\.digest))
            }

            static func parseSize(_ text: String) -> Int64? {
                let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
                var t = text.uppercased()
                if t.hasSuffix("B") { t.removeLast() }
                if t.hasSuffix("I") { t.removeLast() }
                guard let last = t.last else { return nil }
                if let unit = units[last], let n = Int64(t.dropLast()) { return n * unit }
                return Int64(t)
            }
        }
    }
}
