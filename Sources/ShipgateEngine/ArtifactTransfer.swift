import Foundation
import ShipgateCache
import ShipgateJobCache
import ShipgateModel

/// Moves job artifacts between runs on different machines (exported GitHub workflows): a
/// finished run copies each job's artifacts to `DIR/<job file name>/`, which the workflow
/// uploads; the run of a job that needs it downloads them and imports them, so they are
/// placed, bound by approvals and digested exactly as if the needed job had run here.
public enum ArtifactTransfer {
    /// Imports `dir/<file name of job>/` for each of `jobs` that has one: stores the files in the
    /// cache and writes the job's artifact manifest into this run. Returns job id → digest.
    public static func importArtifacts(from dir: String, jobs: [String], runDirectory: RunDirectory, cache: CacheContext) throws -> [String: String] {
        var digests: [String: String] = [:]
        for job in jobs {
            let root = (dir as NSString).appendingPathComponent(RunDirectory.fileName(for: job))
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else { continue }
            let files = try cache.files.collect(root: root, filter: PathFilter(["**"]), skip: [])
            let manifest = ArtifactManifest(job: job, runID: runDirectory.runID, createdAt: Date(), expireMs: nil, files: files)
            try FileManager.default.createDirectory(atPath: runDirectory.root + "/artifacts", withIntermediateDirectories: true)
            try AtomicFile.write(try JSONEncoder.iso.encode(manifest), to: runDirectory.root + "/artifacts/" + RunDirectory.fileName(for: job) + ".json")
            digests[job] = ArtifactManifest.digest(of: files)
        }
        return digests
    }

    /// Writes the artifacts of every job of the run that published some to `dir/<file name>/`.
    /// Returns how many jobs had artifacts.
    @discardableResult
    public static func exportArtifacts(of jobs: [JobResult], runDirectory: RunDirectory, cache: CacheContext, into dir: String) throws -> Int {
        var count = 0
        for job in jobs where job.artifactsDigest != nil {
            let path = runDirectory.root + "/artifacts/" + RunDirectory.fileName(for: job.id) + ".json"
            guard let data = FileManager.default.contents(atPath: path), let manifest = try? JSONDecoder.iso.decode(ArtifactManifest.self, from: data)
            else { continue }
            let target = (dir as NSString).appendingPathComponent(RunDirectory.fileName(for: job.id))
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            try cache.files.restore(manifest.files, into: target)
            count += 1
        }
        return count
    }
}
