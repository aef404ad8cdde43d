import ArgumentParser
import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateJobCache

extension Shipgate {
    struct Artifacts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "artifacts",
            abstract: "List or extract the artifacts of a run, with their digests.")

        @Argument(help: "Run id, or `last`.") var run: String
        @Option(help: "Only this job's artifacts.") var job: String?
        @Option(help: "Extract into this directory (verified against the digests).", completion: .directory) var extract: String?
        @Option(help: "State directory (default: .shipgate here; env SHIPGATE_STATE_DIR).") var stateDir: String?

        func run() async throws {
            let runs = RunsDirectory(explicit: stateDir)
            let dir = try runs.resolve(run)
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/artifacts")) ?? []).filter { $0.hasSuffix(".json") }.sorted()
            var manifests: [ArtifactManifest] = []
            for file in files {
                guard let data = FileManager.default.contents(atPath: dir + "/artifacts/" + file),
                    let m = try? JSONDecoder.iso8601.decode(ArtifactManifest.self, from: data)
                else { continue }
                if job == nil || m.job == job || m.job.hasPrefix((job ?? "") + " (") { manifests.append(m) }
            }
            if manifests.isEmpty {
                print(
                    job.map { "no artifacts of `\($0)` in run \((dir as NSString).lastPathComponent)" }
                        ?? "no artifacts in run \((dir as NSString).lastPathComponent)")
                return
            }
            if let extract {
                let cache = try LocalCache(root: runs.state + "/cache")
                let set = FileSet(cache: cache, statCache: StatCache(path: nil))
                try FileManager.default.createDirectory(atPath: extract, withIntermediateDirectories: true)
                let target = URL(fileURLWithPath: extract).standardizedFileURL.path
                for m in manifests {
                    do { try set.restore(m.files, into: target) } catch {
                        throw ValidationError("cannot extract the artifacts of `\(m.job)`: \(error)")
                    }
                    print("extracted \(m.files.count) file\(m.files.count == 1 ? "" : "s") of \(m.job) into \(extract)")
                }
                return
            }
            for m in manifests {
                print("\(m.job)  (\(m.files.count) file\(m.files.count == 1 ? "" : "s"))")
                for f in m.files {
                    print("  sha256:\(f.digest)  \(String(format: "%10d", f.size))  \(f.path)\(f.kind == .symlink ? " -> \(f.target ?? "")" : "")")
                }
            }
        }
    }
}
