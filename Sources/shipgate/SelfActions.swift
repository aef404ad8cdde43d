import Foundation
import ShipgateCache
import ShipgateGit
import ShipgateLoading
import ShipgateModel
import ShipgatePlanning

/// The repository's own actions as GitHub resolves them: `./path` from the working tree,
/// `$/path` from the running commit (HEAD), read through libgit2.
struct GitActionSource: ActionSource {
    let root: String

    func read(_ relativePath: String, committed: Bool) -> [UInt8]? {
        if committed, let repository = try? Repository.discover(at: root) {
            return repository.file(relativePath, at: "HEAD")
        }
        return WorkingTreeActions(root: root).read(relativePath, committed: false)
    }
}

enum SelfActions {
    /// Extracts the committed copy of every `$/` composite action the plan's steps use into
    /// `directory`, for `GITHUB_ACTION_PATH`; returns repository directory → extracted path, and
    /// each file's SHA-256 (the engine checks the copy against them before each use, so a job
    /// cannot change what a later job runs). Files starting with `#!` are made executable (the
    /// object database's modes are not kept).
    static func extract(_ plan: ExecutionPlan, workspace: String, into directory: String) -> (paths: [String: String], digests: [String: [String: String]]) {
        var wanted = Set<String>()
        func visit(_ step: GitHubStep) {
            guard let composite = step.composite else { return }
            if composite.fromCommit { wanted.insert(composite.directory) }
            composite.steps.forEach(visit)
        }
        for job in plan.jobs where job.status == .run { for step in job.steps { step.github.map(visit) } }
        guard !wanted.isEmpty, let repository = try? Repository.discover(at: workspace), let head = repository.commitID("HEAD") else { return ([:], [:]) }
        var out: [String: String] = [:]
        var digests: [String: [String: String]] = [:]
        for dir in wanted.sorted() {
            let target = directory + "/" + (dir.isEmpty ? "_root" : dir)
            let prefix = dir.isEmpty ? "" : dir + "/"
            for (path, bytes) in repository.regularFiles(at: head, select: { $0.hasPrefix(prefix) }) ?? [] {
                guard let bytes else { continue }
                let file = target + "/" + path.dropFirst(prefix.count)
                try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                FileManager.default.createFile(
                    atPath: file, contents: Data(bytes), attributes: [.posixPermissions: bytes.starts(with: [35, 33]) ? 0o755 : 0o644])
                digests[dir, default: [:]][String(path.dropFirst(prefix.count))] = Digest.sha256(bytes)
            }
            out[dir] = target
        }
        return (out, digests)
    }
}
