import Foundation
import ShipgateCache
import ShipgateJobCache
import ShipgateModel
import ShipgatePlanning

extension JobExecutor {
    func artifactManifestPath(_ job: String) -> String {
        options.runDirectory.root + "/artifacts/" + RunDirectory.fileName(for: job) + ".json"
    }

    /// Stores the job's artifacts and writes its manifest; returns the files (nil when the job
    /// declares none or they could not be stored). An artifact that escapes the workspace fails the job.
    func collectArtifacts(of job: PlannedJob, root: String, cache: CacheContext, result: inout JobResult) -> [FileEntry]? {
        guard let spec = job.artifacts else { return nil }
        do {
            let files = try cache.files.collect(root: root, filter: PathFilter(spec.paths.map(\.value)), skip: cache.skip)
            if files.isEmpty { notice(job.id, .warning, "`artifacts` matched no file") }
            result.artifactsDigest = writeArtifactManifest(job, files: files)
            let bytes = files.reduce(Int64(0)) { $0 + $1.size }
            notice(job.id, .info, "published \(files.count) artifact\(files.count == 1 ? "" : "s") (\(Self.bytes(bytes)))")
            return files
        } catch CacheError.unsafePath(let path, let reason) {
            result.status = .failed
            result.reason = "artifact `\(path)` refused: \(reason)"
        } catch {
            notice(job.id, .warning, "artifacts not stored: \(error)")
        }
        return nil
    }

    /// Writes the manifest for this run; returns the digest of its files (`ArtifactManifest.digest`).
    @discardableResult
    func writeArtifactManifest(_ job: PlannedJob, files: [FileEntry]) -> String? {
        let manifest = ArtifactManifest(job: job.id, runID: options.runID, createdAt: Date(), expireMs: job.artifacts?.expire?.milliseconds, files: files)
        guard let data = try? JSONEncoder.iso.encode(manifest) else { return nil }
        try? AtomicFile.write(data, to: artifactManifestPath(job.id))
        return ArtifactManifest.digest(of: files)
    }

    /// Places the artifacts of every needed job into `<run>/artifacts-in/<job>/` (the job's
    /// `$SHIPGATE_ARTIFACTS`) and into the workspace where they are missing or differ.
    /// Returns the directory, or nil when no needed job published artifacts. A blob that is
    /// missing or corrupt is repaired from the workspace when the file there has the right
    /// digest; otherwise placing fails and the job must not run.
    func placeArtifacts(of job: PlannedJob, needed: [String: JobResult], root: String, cache: CacheContext) throws -> (String, [FileEntry])? {
        var files: [FileEntry] = []
        // What a job receives is exactly what its needs recorded (and what approvals bind):
        // a missing or altered manifest stops the job.
        for id in job.needs {
            guard let expected = needed[id]?.artifactsDigest else { continue }
            guard let data = FileManager.default.contents(atPath: artifactManifestPath(id)),
                let manifest = try? JSONDecoder.iso.decode(ArtifactManifest.self, from: data)
            else { throw CacheError.io("the artifacts of `\(id)` are missing from this run (\(artifactManifestPath(id)))") }
            guard ArtifactManifest.digest(of: manifest.files) == expected else {
                throw CacheError.io("the artifact manifest of `\(id)` does not match the digest `\(id)` recorded; refusing it")
            }
            files += manifest.files
        }
        guard !files.isEmpty else { return nil }
        let dir = options.runDirectory.root + "/artifacts-in/" + RunDirectory.fileName(for: job.id)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do {
            try cache.files.restore(files, into: dir)
        } catch {
            var repaired = 0
            for file in files where file.kind == .file && !cache.local.hasBlob(file.digest) {
                if (try? cache.statCache.digest(root: options.workspace, relative: file.path)) == file.digest,
                    (try? cache.local.storeBlob(from: options.workspace + "/" + file.path, digest: file.digest)) != nil
                {
                    repaired += 1
                }
            }
            guard repaired > 0 else { throw CacheError.io("cannot place the artifacts of needed jobs: \(error)") }
            notice(job.id, .warning, "\(error); repaired \(repaired) artifact blob\(repaired == 1 ? "" : "s") from the workspace")
            do { try cache.files.restore(files, into: dir) } catch { throw CacheError.io("cannot place the artifacts of needed jobs: \(error)") }
        }
        if (try? cache.files.restore(files, into: root)) ?? 0 > 0, root == options.workspace { cache.invalidateTree() }
        return (dir, files)
    }

    static func bytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1 << 20 { return "\((n + 512) / 1024) KiB" }
        let tenths = (n * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}
