import Foundation
import ShipgateGate
import ShipgateGit
import ShipgateLoading
import ShipgateModel

/// The policy gates enforce: the `environments` section and the approvers keyring as they are
/// on the trusted ref (the tip of the default branch), read through libgit2, never from the
/// working tree. A change to either takes effect once it is merged there.
///
/// Fail-closed contract: when the trusted copy cannot be read (no such ref, pipeline not on
/// it, a syntax error there), `problem` is set and every protected gate fails with it.
public struct TrustedPolicy: Sendable {
    /// Environments by name, as enforced.
    public var environments: [String: EnvironmentPolicy]
    public var keyring: Keyring
    /// `main@1a2b3c4`, or `working tree` outside a git repository.
    public var source: String
    /// Differences between the working tree and the trusted policy, and other warnings.
    public var notes: [String]
    /// Why the trusted policy is unusable, if it is.
    public var problem: String?
    /// Environments enforced as the working tree declares them because the trusted ref does not
    /// have them yet: they get no secrets until merged.
    public var untrusted: Set<String> = []

    public static let defaultKeyring = "pipelines/approvers.yml"

    public init(environments: [String: EnvironmentPolicy], keyring: Keyring, source: String, notes: [String] = [], problem: String? = nil) {
        self.environments = environments
        self.keyring = keyring
        self.source = source
        self.notes = notes
        self.problem = problem
    }

    /// Reads the trusted policy for `pipeline` (loaded from `pipelinePath`).
    /// - trustRef: `--trust-ref`, else `SHIPGATE_TRUST_REF`, else the default branch, else `main`.
    /// - keyringPath: relative to the repository root.
    public static func load(pipeline: Pipeline, pipelinePath: String, trustRef: String?, keyringPath: String = defaultKeyring) -> TrustedPolicy {
        let working = Dictionary(pipeline.environments.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let repository: Repository?
        do {
            repository = try Repository.discover(
                at: (pipelinePath as NSString).deletingLastPathComponent.isEmpty ? "." : (pipelinePath as NSString).deletingLastPathComponent)
        } catch {
            return TrustedPolicy(environments: working, keyring: Keyring(), source: "working tree", problem: "cannot open the git repository: \(error)")
        }
        guard let repo = repository else {
            let (ring, notes) = workingKeyring(pipelinePath: pipelinePath, keyringPath: keyringPath)
            return TrustedPolicy(
                environments: working, keyring: ring, source: "working tree",
                notes: ["not a git repository: environments and approvers come from the working tree, so whoever edits it controls the gate"] + notes)
        }
        let ref = trustRef ?? repo.defaultBranch() ?? "main"
        guard let commit = resolve(ref, in: repo) else {
            return TrustedPolicy(
                environments: working, keyring: Keyring(), source: ref,
                problem: "the trusted ref `\(ref)` does not exist, so no trusted policy can be read (set --trust-ref or SHIPGATE_TRUST_REF)")
        }
        let source = "\(ref)@\(commit.prefix(7))"
        guard let relative = repo.relativePath(pipelinePath) else {
            return TrustedPolicy(environments: working, keyring: Keyring(), source: source, problem: "\(pipelinePath) is outside the repository")
        }
        var notes: [String] = []
        var problem: String?
        var untrusted = Set<String>()
        var environments: [String: EnvironmentPolicy] = [:]
        if let bytes = repo.file(relative, at: commit) {
            let loaded = PipelineLoader.load(bytes: bytes, file: "\(source):\(relative)")
            if let trusted = loaded.pipeline {
                environments = Dictionary(trusted.environments.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            } else {
                let first = loaded.diagnostics.first { $0.severity == .error }.map { "\($0)" } ?? "it does not load"
                problem = "the trusted pipeline \(source):\(relative) is invalid: \(first)"
            }
        } else if pipeline.environments.contains(where: \.isProtected) {
            problem = "\(relative) is not on \(source): its environments are not trusted until it is merged there"
        }
        for env in pipeline.environments {
            guard let trusted = environments[env.name] else {
                if problem == nil, env.isProtected {
                    notes.append("environment `\(env.name)` is not in the trusted policy (\(source)); its rules come from the working tree until merged")
                }
                if problem == nil {
                    environments[env.name] = env
                    untrusted.insert(env.name)
                }
                continue
            }
            if trusted.ruleText != env.ruleText {
                notes.append("the rules of environment `\(env.name)` in the working tree differ from \(source): the trusted ones are enforced")
            }
        }
        if problem != nil {
            environments = working
            untrusted = Set(working.keys)
        }
        // The keyring.
        var keyring = Keyring()
        if let bytes = repo.file(keyringPath, at: commit) {
            let (entries, diagnostics) = KeyringLoader.parse(bytes: bytes, file: "\(source):\(keyringPath)")
            let (ring, problems) = Keyring.parse(entries.map { ($0.name, $0.value, $0.line, $0.console) }, file: "\(source):\(keyringPath)")
            keyring = ring
            notes += diagnostics.map { "\($0)" } + problems
        } else if pipeline.environments.contains(where: { $0.approvals != nil }) {
            notes.append("no keyring at \(source):\(keyringPath): no approval can be verified")
        }
        if let workingBytes = FileManager.default.contents(atPath: repo.workdir + "/" + keyringPath),
            Array(workingBytes) != (repo.file(keyringPath, at: commit) ?? [])
        {
            notes.append("the keyring \(keyringPath) in the working tree differs from \(source): the trusted one is used")
        }
        var policy = TrustedPolicy(environments: environments, keyring: keyring, source: source, notes: notes, problem: problem)
        policy.untrusted = untrusted
        return policy
    }

    /// The commit of a trusted ref, by full ref name only: `refs/…` as given, else the
    /// remote-tracking branch `refs/remotes/origin/NAME` (what the server holds), else the local
    /// branch `refs/heads/NAME`. Never a tag or a short-name guess: a pushed tag called `main`
    /// must not become the trusted policy.
    static func resolve(_ ref: String, in repo: Repository) -> String? {
        if ref.hasPrefix("refs/tags/") { return nil }
        if ref.hasPrefix("refs/") { return repo.commitID(ref) }
        let name = ref.hasPrefix("origin/") ? String(ref.dropFirst("origin/".count)) : ref
        return repo.commitID("refs/remotes/origin/" + name) ?? (ref.hasPrefix("origin/") ? nil : repo.commitID("refs/heads/" + name))
    }

    private static func workingKeyring(pipelinePath: String, keyringPath: String) -> (Keyring, [String]) {
        let path =
            FileManager.default.fileExists(atPath: keyringPath)
            ? keyringPath : ((pipelinePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("approvers.yml")
        guard let data = FileManager.default.contents(atPath: path) else { return (Keyring(), []) }
        let (entries, diagnostics) = KeyringLoader.parse(bytes: Array(data), file: path)
        let (ring, problems) = Keyring.parse(entries.map { ($0.name, $0.value, $0.line, $0.console) }, file: path)
        return (ring, diagnostics.map { "\($0)" } + problems)
    }
}
