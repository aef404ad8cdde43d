import Foundation
import ShipgateCache
import ShipgateGate
import ShipgateGit
import ShipgateLoading
import ShipgateModel

/// The policy gates enforce: every environment declared on the trusted ref (the tip of the
/// default branch) and the approvers keyring there, read through libgit2, never from the
/// working tree.
///
/// Trust model (docs/deploy-gates.md#trust-model): the environments come from **every**
/// shipgate pipeline file in the trusted ref's tree, not from the file the run names, so no
/// file name, path, symlink or new file on a branch changes which rules apply. An environment
/// the trusted ref declares is enforced as declared there in every run; one it does not declare
/// is *untrusted*: it runs with the working tree's rules, gets no secrets, and its releases never
/// count for rollback or `promote-from`.
///
/// Fail-closed contract: when the policy is unusable or ambiguous (no trusted ref, a trusted
/// pipeline that does not load, an environment declared differently in two trusted files, the
/// run's pipeline file reached through a symlink), `problem` is set and every gate fails with it;
/// a problem of one environment only (`problems`) fails that environment's gates.
public struct TrustedPolicy: Sendable {
    /// Environments by name, as enforced.
    public var environments: [String: EnvironmentPolicy]
    public var keyring: Keyring
    /// `main@1a2b3c4`, or `working tree` outside a git repository.
    public var source: String
    /// Differences between the working tree and the trusted policy, and other warnings.
    public var notes: [String]
    /// Why the trusted policy is unusable, if it is: every gate fails with it.
    public var problem: String?
    /// Why one environment's policy is unusable (declared twice, a confusable name).
    public var problems: [String: String] = [:]
    /// Environments enforced as the working tree declares them because the trusted ref does not
    /// have them: they get no secrets and their releases are not trusted.
    public var untrusted: Set<String> = []
    /// `REF@COMMIT` (full id) and the digest of what was enforced; nil without a trusted ref.
    public var identity: String?
    /// Where each trusted environment is declared on the trusted ref (repository paths).
    public var declaredIn: [String: String] = [:]
    /// Whether every environment of the trusted ref (and so every secret name it reserves for
    /// environments) is known: false when the trusted ref is missing or one of its pipeline files
    /// could not be read. Then no secret may go to every job: a branch could have moved an
    /// environment's secret to its top-level `secrets:`.
    public var environmentsKnown = true
    /// The trusted ref as resolved and its commit (full id); nil without a trusted ref.
    public var trustedRef: String?
    public var trustedCommit: String?
    /// The trusted ref's deploy jobs by environment, with the pipeline each is in: a manual
    /// rollback runs their `rollback` steps, never the working tree's.
    public var deployers: [String: [TrustedDeployer]] = [:]

    public static let defaultKeyring = "pipelines/approvers.yml"

    public init(environments: [String: EnvironmentPolicy], keyring: Keyring, source: String, notes: [String] = [], problem: String? = nil) {
        self.environments = environments
        self.keyring = keyring
        self.source = source
        self.notes = notes
        self.problem = problem
    }

    /// Whether releases of `environment` made under this policy are trusted: the environment is
    /// declared on the trusted ref and nothing made the policy unusable.
    public func isTrusted(_ environment: String) -> Bool {
        identity != nil && problem == nil && problems[environment] == nil && !untrusted.contains(environment) && environments[environment] != nil
    }

    /// Why a gate of `environment` must fail whatever its rules say, if it must.
    public func failure(for environment: String) -> String? { problem ?? problems[environment] }

    /// Reads the trusted policy for a run of `pipeline` (loaded from `pipelinePath`).
    /// - trustRef: `--trust-ref`, else `SHIPGATE_TRUST_REF`, else the default branch, else `main`.
    /// - keyringPath: relative to the repository root.
    public static func load(pipeline: Pipeline, pipelinePath: String, trustRef: String?, keyringPath: String = defaultKeyring) -> TrustedPolicy {
        let working = Dictionary(pipeline.environments.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let directory = (pipelinePath as NSString).deletingLastPathComponent
        let repository: Repository?
        do { repository = try Repository.discover(at: directory.isEmpty ? "." : directory) } catch {
            var policy = TrustedPolicy(environments: working, keyring: Keyring(), source: "working tree", problem: "cannot open the git repository: \(error)")
            policy.untrusted = Set(working.keys)
            policy.environmentsKnown = false
            return policy
        }
        guard let repo = repository else {
            let (ring, notes) = workingKeyring(pipelinePath: pipelinePath, keyringPath: keyringPath)
            var policy = TrustedPolicy(
                environments: working, keyring: ring, source: "working tree",
                notes: ["not a git repository: environments and approvers come from the working tree, so whoever edits it controls the gate"] + notes)
            policy.untrusted = Set(working.keys)
            return policy
        }
        let ref = trustRef ?? repo.defaultBranch() ?? "main"
        guard let commit = resolve(ref, in: repo) else {
            var policy = TrustedPolicy(
                environments: working, keyring: Keyring(), source: ref,
                problem: "the trusted ref `\(ref)` does not exist, so no trusted policy can be read (set --trust-ref or SHIPGATE_TRUST_REF)")
            policy.untrusted = Set(working.keys)
            policy.environmentsKnown = false
            return policy
        }
        let source = "\(ref)@\(commit.prefix(7))"
        var policy = TrustedPolicy(environments: [:], keyring: Keyring(), source: source)
        policy.trustedRef = ref
        policy.trustedCommit = commit
        let trustedRing = policy.collect(from: repo, commit: commit, source: source, keyringPath: keyringPath)

        // The run's own file: named as a regular file inside the repository.
        if let named = repo.namedPath(pipelinePath) {
            if let link = named.symlink {
                policy.problem =
                    policy.problem
                    ?? "the pipeline file \(named.relative) is reached through a symlink (`\(link)`): a run that deploys must name a regular file of the repository"
            }
        } else {
            policy.problem = policy.problem ?? "\(pipelinePath) is outside the repository \(repo.workdir)"
        }

        // The working tree's environments: trusted ones are enforced as on the trusted ref;
        // others are untrusted, unless their name could pass for a trusted one.
        for env in pipeline.environments {
            if let trusted = policy.environments[env.name] {
                if trusted.ruleText != env.ruleText {
                    policy.notes.append("the rules of environment `\(env.name)` in the working tree differ from \(source): the trusted ones are enforced")
                }
                continue
            }
            if let twin = policy.environments.keys.first(where: { Self.confusable($0, env.name) }) {
                policy.problems[env.name] = "environment `\(env.name)` is not on \(source) and its name can pass for the trusted environment `\(twin)`"
            } else if env.isProtected {
                policy.notes.append(
                    "environment `\(env.name)` is not in the trusted policy (\(source)): its rules come from the working tree, it gets no secrets, and its releases do not count for rollback or promote-from until it is merged there"
                )
            }
            policy.environments[env.name] = env
            policy.untrusted.insert(env.name)
        }

        // The keyring.
        if let bytes = trustedRing {
            let (entries, diagnostics) = KeyringLoader.parse(bytes: bytes, file: "\(source):\(keyringPath)")
            let (ring, problems) = Keyring.parse(entries.map { ($0.name, $0.value, $0.line, $0.console) }, file: "\(source):\(keyringPath)")
            policy.keyring = ring
            policy.notes += diagnostics.map { "\($0)" } + problems
        } else if policy.environments.values.contains(where: { $0.approvals != nil }) {
            policy.notes.append("no keyring (a regular file) at \(source):\(keyringPath): no approval can be verified")
        }
        if let workingBytes = FileManager.default.contents(atPath: repo.workdir + "/" + keyringPath), Array(workingBytes) != (trustedRing ?? []) {
            policy.notes.append("the keyring \(keyringPath) in the working tree differs from \(source): the trusted one is used")
        }
        policy.identity = "\(ref)@\(commit) \(policy.digest(keyring: trustedRing ?? []))"
        return policy
    }

    /// Collects the environments of every shipgate pipeline in the trusted tree, in one walk
    /// that also reads the keyring; returns the keyring's bytes (nil: not a regular file there).
    private mutating func collect(from repo: Repository, commit: String, source: String, keyringPath: String) -> [UInt8]? {
        func isPipelineCandidate(_ path: String) -> Bool {
            (path.hasSuffix(".yml") || path.hasSuffix(".yaml")) && !path.hasPrefix(".github/") && !path.hasPrefix(".shipgate/")
        }
        let files = repo.regularFiles(at: commit) { $0 == keyringPath || isPipelineCandidate($0) } ?? []
        let keyring = files.first { $0.path == keyringPath }?.bytes
        for (path, bytes) in files.sorted(by: { $0.path < $1.path }) where isPipelineCandidate(path) {
            guard let bytes else {
                environmentsKnown = false
                if problem == nil { problem = "\(source):\(path) is too large to read as a pipeline file (over 4 MiB)" }
                continue
            }
            switch PipelineLoader.classify(bytes: bytes, file: "\(source):\(path)") {
            case .other: continue
            case .brokenPipeline(let why):
                environmentsKnown = false
                if problem == nil { problem = "the trusted pipeline \(source):\(path) is not valid YAML: \(why)" }
            case .pipeline(let loaded):
                guard let trusted = loaded.pipeline else {
                    let first = loaded.diagnostics.first { $0.severity == .error }.map { "\($0)" } ?? "it does not load"
                    environmentsKnown = false
                    if problem == nil { problem = "the trusted pipeline \(source):\(path) is invalid: \(first)" }
                    continue
                }
                for job in trusted.jobs {
                    if let env = job.deploy?.environment.value {
                        deployers[env, default: []].append(TrustedDeployer(pipeline: trusted, path: path, job: job.id))
                    }
                }
                for env in trusted.environments {
                    if let earlier = environments[env.name] {
                        if earlier.ruleText != env.ruleText {
                            problems[env.name] =
                                "environment `\(env.name)` is declared differently in \(declaredIn[env.name] ?? "?") and \(path) on \(source): make them the same, or keep it in one file"
                        }
                        continue
                    }
                    environments[env.name] = env
                    declaredIn[env.name] = path
                }
            }
        }
        return keyring
    }

    /// SHA-256 over the enforced environments' rules and the keyring's bytes.
    private func digest(keyring: [UInt8]) -> String {
        var text = ""
        for name in environments.keys.sorted() where !untrusted.contains(name) {
            text += "[\(name)]\n\(environments[name]!.ruleText)\n"
        }
        return "sha256:" + Digest.sha256(text + "[keyring]\n" + String(decoding: keyring, as: UTF8.self))
    }

    /// Whether two environment names could be taken for each other (case, `-` and `_`).
    static func confusable(_ a: String, _ b: String) -> Bool {
        func fold(_ s: String) -> String { s.lowercased().replacingOccurrences(of: "_", with: "-") }
        return a != b && fold(a) == fold(b)
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

/// A deploy job of the trusted ref: its id and the pipeline (repository path) it is in.
public struct TrustedDeployer: Sendable {
    public var pipeline: Pipeline
    public var path: String
    public var job: String
}
