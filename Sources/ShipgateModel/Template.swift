/// A string that may contain `${{ expression }}` parts, parsed once by the loader.
///
/// The planner resolves what is known before running (matrix values, env); the
/// executor resolves what is only known at run time (outputs of needed jobs).
public struct Template: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Segment: Hashable, Sendable, Codable {
        case literal(String)
        case expression(Interpolation)
    }

    public var segments: [Segment]

    public init(segments: [Segment]) { self.segments = Self.merged(segments) }

    public var expressions: [Interpolation] {
        segments.compactMap { if case .expression(let e) = $0 { e } else { nil } }
    }

    public var isLiteral: Bool { expressions.isEmpty }

    /// Replaces every `$NAME` / `${NAME}` (`Interpolation.variable`) with its value in
    /// `environment`, empty when it is not set.
    public func expandingVariables(_ environment: [String: String]) -> Template {
        resolving { e in
            if case .variable(let name) = e { return environment[name] ?? "" }
            return nil
        }
    }

    /// Replaces every expression for which `resolve` returns a value; others stay as they are.
    public func resolving(_ resolve: (Interpolation) -> String?) -> Template {
        Template(
            segments: segments.map { segment in
                if case .expression(let e) = segment, let value = resolve(e) { return .literal(value) }
                return segment
            })
    }

    /// The text with unresolved expressions written back as `${{ … }}`.
    public var description: String {
        segments.map { segment in
            switch segment {
            case .literal(let s): s
            case .expression(.variable(let name)): "${\(name)}"
            case .expression(let e): "${{ \(e) }}"
            }
        }.joined()
    }

    private static func merged(_ segments: [Segment]) -> [Segment] {
        var out: [Segment] = []
        for segment in segments {
            if case .literal(let b) = segment {
                if b.isEmpty { continue }
                if case .literal(let a)? = out.last {
                    out[out.count - 1] = .literal(a + b)
                    continue
                }
            }
            out.append(segment)
        }
        return out
    }
}

/// What may stand inside `${{ }}`.
public enum Interpolation: Hashable, Sendable, Codable, CustomStringConvertible {
    case matrix(String)
    case env(String)
    case needsOutput(job: String, key: String)
    /// `hashFiles('pattern', …)`: SHA-256 over the matched files, resolved when the job starts.
    case hashFiles([String])
    /// `git.KEY`: the run context (commit, branch, version, actor, …), known before the run.
    case git(String)
    /// `$NAME` or `${NAME}` in an `env` value (not inside `${{ }}`): NAME in the run's base
    /// environment, empty when unset; resolved when the job starts.
    case variable(String)

    /// Keys of `${{ git.KEY }}`.
    public static let gitKeys = ["commit", "commit_short", "branch", "tag", "dirty", "author", "committer", "subject", "version", "actor"]

    public var description: String {
        switch self {
        case .matrix(let k): "matrix.\(k)"
        case .env(let k): "env.\(k)"
        case .needsOutput(let job, let key): "needs.\(job).outputs.\(key)"
        case .hashFiles(let patterns): "hashFiles(\(patterns.map { "'\($0)'" }.joined(separator: ", ")))"
        case .git(let key): "git.\(key)"
        case .variable(let name): "$\(name)"
        }
    }
}
