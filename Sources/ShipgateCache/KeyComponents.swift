import Foundation
import ShipgateModel

/// Everything that goes into a job's cache key, kept so a miss can say what changed.
///
/// The key is SHA-256 over the canonical text: one line `section<TAB>name<TAB>value` per item,
/// sorted, prefixed with the format version. Sections:
/// - `definition`: job id, matrix values, shell, each step's command (after interpolation),
///   working directory and env (pipeline + job + step env; secret values are not included),
///   and the `outputs` patterns;
/// - `inputs`: every file matched by `inputs`, with its git blob id (SHA-1 of `blob <size>\0` and
///   the content, as `git hash-object` computes it; taken from git's index for tracked files it
///   vouches for, computed otherwise, so the key is the same either way);
/// - `needs`: each needed job's key (or, for a job that is never cached, the digest of the
///   artifacts it handed on);
/// - `extra`: each `cache-key-extra` command with the SHA-256 of its output.
/// The OS environment is not part of the key: name tool versions in `cache-key-extra`.
public struct KeyComponents: Codable, Equatable, Sendable {
    public static let version = "shipgate-cache-2"

    public var definition: [String: String]
    public var inputs: [String: String]
    public var needs: [String: String]
    public var extra: [String: String]

    public init(definition: [String: String] = [:], inputs: [String: String] = [:], needs: [String: String] = [:], extra: [String: String] = [:]) {
        self.definition = definition
        self.inputs = inputs
        self.needs = needs
        self.extra = extra
    }

    public var canonicalText: String {
        var lines: [String] = []
        lines.reserveCapacity(definition.count + inputs.count + needs.count + extra.count)
        for (section, items) in [("definition", definition), ("inputs", inputs), ("needs", needs), ("extra", extra)] {
            for (name, value) in items { lines.append("\(section)\t\(Self.escape(name))\t\(Self.escape(value))") }
        }
        lines.sort()
        return Self.version + "\n" + lines.joined(separator: "\n") + "\n"
    }

    public var key: String { Digest.sha256(canonicalText) }

    /// The components as one compact JSON object (the same shape `Codable` decodes), written by
    /// hand because it runs once per job.
    public var jsonText: String {
        func map(_ m: [String: String]) -> String {
            "{" + m.sorted { $0.key < $1.key }.map { "\(JSONObject.quote($0.key)):\(JSONObject.quote($0.value))" }.joined(separator: ",") + "}"
        }
        return "{\"definition\":\(map(definition)),\"extra\":\(map(extra)),\"inputs\":\(map(inputs)),\"needs\":\(map(needs))}"
    }

    private static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 9 || $0 == 10 || $0 == 0x5C }) else { return s }
        return s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// What differs from `previous`, in words: `services/api/app.py changed`, `env PY changed`,
    /// `needs build-lib changed`. Long lists are shortened with a count.
    public func differences(from previous: KeyComponents, limit: Int = 8) -> [String] {
        var reasons: [String] = []
        func compare(_ old: [String: String], _ new: [String: String], describe: (String, String) -> String) {
            for name in Set(old.keys).union(new.keys).sorted() {
                switch (old[name], new[name]) {
                case (nil, .some): reasons.append(describe(name, "added"))
                case (.some, nil): reasons.append(describe(name, "removed"))
                case (.some(let a), .some(let b)) where a != b: reasons.append(describe(name, "changed"))
                default: break
                }
            }
        }
        compare(previous.definition, definition) { name, what in
            if name.hasPrefix("env.") { return "env \(name.dropFirst(4)) \(what)" }
            if name.hasPrefix("step.") {
                let parts = name.split(separator: ".")
                let number = parts.count > 1 ? parts[1] : "?"
                let field = parts.count > 2 ? parts[2] : ""
                switch field {
                case "run": return "command of step \(number) \(what)"
                case "dir": return "working directory of step \(number) \(what)"
                case "shell": return "shell of step \(number) \(what)"
                default: return "step \(number) \(what)"
                }
            }
            if name.hasPrefix("matrix.") { return "matrix value \(name.dropFirst(7)) \(what)" }
            return "\(name) \(what)"
        }
        compare(previous.inputs, inputs) { name, what in "\(name) \(what)" }
        compare(previous.needs, needs) { name, what in "needs \(name) \(what)" }
        compare(previous.extra, extra) { name, what in "output of `\(name)` \(what)" }
        if reasons.count > limit {
            let more = reasons.count - limit
            reasons = Array(reasons.prefix(limit)) + ["and \(more) more change\(more == 1 ? "" : "s")"]
        }
        return reasons
    }
}

/// A stored job result: the files its `outputs` matched, its artifacts and job outputs. Kept as
/// `ac/<key>.json`. (The key's components are kept per job in `last/`, for explaining misses.)
public struct ActionEntry: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var key: String
    public var job: String
    public var runID: String
    public var createdAt: Date
    public var files: [FileEntry]
    public var artifacts: [FileEntry]
    public var outputs: [String: String]

    public init(
        key: String, job: String, runID: String, createdAt: Date, files: [FileEntry], artifacts: [FileEntry], outputs: [String: String]
    ) {
        self.key = key
        self.job = job
        self.runID = runID
        self.createdAt = createdAt
        self.files = files
        self.artifacts = artifacts
        self.outputs = outputs
    }

    /// Blobs this entry needs.
    public var digests: Set<String> { Set((files + artifacts).filter { $0.kind == .file }.map(\.digest)) }
}

/// A dependency-cache entry (`caches:`): the user's key and the files under its paths.
///
/// On disk as `deps/<name>.json`, where the name is `DependencyEntry.name(key:paths:)`: the key
/// and the `paths` patterns together are the entry's identity, so changing `paths` never
/// restores an entry saved for other paths. `files` are workspace-relative; `home` (schema 2)
/// are relative to `$HOME` (`~/` patterns). Symlinks are kept as links (`.verbatim`).
public struct DependencyEntry: Codable, Sendable, Equatable {
    public var schemaVersion = 2
    public var key: String
    /// The `paths` patterns as resolved (matrix values in); nil in schema-1 entries.
    public var paths: [String]?
    public var createdAt: Date
    public var files: [FileEntry]
    public var home: [FileEntry]?

    public init(key: String, paths: [String]? = nil, createdAt: Date, files: [FileEntry], home: [FileEntry]? = nil) {
        self.key = key
        self.paths = paths
        self.createdAt = createdAt
        self.files = files
        self.home = home
    }

    /// The entry's file name (without `.json`): SHA-256 of the key and every pattern, NUL-separated.
    public static func name(key: String, paths: [String]) -> String {
        Digest.sha256(([key] + paths).joined(separator: "\u{0}"))
    }

    /// Blobs this entry needs.
    public var digests: Set<String> { Set((files + (home ?? [])).filter { $0.kind == .file }.map(\.digest)) }

    /// Files and links, workspace and home.
    public var count: Int { files.count + (home?.count ?? 0) }
}
