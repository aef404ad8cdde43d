/// A workspace-relative path pattern: `**` (any number of directories), `*`, `?`, `[abc]`,
/// `[a-z]`, `[!x]`. A pattern without wildcards names a file, or a directory and everything
/// below it. Matching is by `/`-separated segments; `*` never crosses a `/`.
public struct Glob: Hashable, Sendable {
    public let pattern: String
    let segments: [Substring]

    public init(_ pattern: String) {
        var p = pattern
        while p.hasPrefix("./") { p.removeFirst(2) }
        while p.hasSuffix("/") && p.count > 1 { p.removeLast() }
        self.pattern = p
        segments = p.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// The leading segments without wildcards: the directory a walk can start from.
    public var literalPrefix: [Substring] {
        Array(segments.prefix { !Self.hasWildcard($0) })
    }

    public var isLiteral: Bool { segments.allSatisfy { !Self.hasWildcard($0) } }

    static func hasWildcard(_ s: Substring) -> Bool { s.contains { $0 == "*" || $0 == "?" || $0 == "[" } }

    /// Whether `path` (relative, `/`-separated, no leading `./`) matches. A literal pattern also
    /// matches every path below it (`dist` matches `dist/a.txt`).
    public func matches(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        if isLiteral {
            return parts.count >= segments.count && zip(parts, segments).allSatisfy { $0 == $1 }
        }
        return Self.match(segments[...], parts[...])
    }

    /// Whether a directory above `path` matches (`.cache/uv-py*` for `.cache/uv-py3.12/a`).
    public func matchesAncestor(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count > 1 else { return false }
        return (1..<parts.count).contains { Self.match(segments[...], parts[..<$0]) }
    }

    private static func match(_ pattern: ArraySlice<Substring>, _ path: ArraySlice<Substring>) -> Bool {
        guard let head = pattern.first else { return path.isEmpty }
        if head == "**" {
            let rest = pattern.dropFirst()
            if rest.isEmpty { return true }
            var p = path
            while true {
                if match(rest, p) { return true }
                if p.isEmpty { return false }
                p = p.dropFirst()
            }
        }
        guard let first = path.first, segment(head, first) else { return false }
        return match(pattern.dropFirst(), path.dropFirst())
    }

    /// Matches one segment: `*`, `?` and bracket classes.
    static func segment(_ pattern: Substring, _ name: Substring) -> Bool {
        let p = Array(pattern.utf8), n = Array(name.utf8)
        var pi = 0, ni = 0
        var starP = -1, starN = 0
        while ni < n.count {
            if pi < p.count {
                switch p[pi] {
                case UInt8(ascii: "*"):
                    starP = pi
                    starN = ni
                    pi += 1
                    continue
                case UInt8(ascii: "?"):
                    pi += 1
                    ni += 1
                    continue
                case UInt8(ascii: "["):
                    if let (matched, next) = bracket(p, pi, n[ni]) {
                        if matched {
                            pi = next
                            ni += 1
                            continue
                        }
                    } else if n[ni] == p[pi] {
                        pi += 1
                        ni += 1
                        continue
                    }
                default:
                    if p[pi] == n[ni] {
                        pi += 1
                        ni += 1
                        continue
                    }
                }
            }
            if starP >= 0 {
                pi = starP + 1
                starN += 1
                ni = starN
                continue
            }
            return false
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    /// `[abc]`, `[a-z]`, `[!x]` at `start`: (whether `c` matches, index after `]`), or nil if unterminated.
    private static func bracket(_ p: [UInt8], _ start: Int, _ c: UInt8) -> (Bool, Int)? {
        var i = start + 1
        var negate = false
        if i < p.count && (p[i] == UInt8(ascii: "!") || p[i] == UInt8(ascii: "^")) {
            negate = true
            i += 1
        }
        var matched = false
        var first = true
        while i < p.count && (p[i] != UInt8(ascii: "]") || first) {
            first = false
            if i + 2 < p.count && p[i + 1] == UInt8(ascii: "-") && p[i + 2] != UInt8(ascii: "]") {
                if p[i] <= c && c <= p[i + 2] { matched = true }
                i += 3
            } else {
                if p[i] == c { matched = true }
                i += 1
            }
        }
        guard i < p.count else { return nil }
        return (matched != negate, i + 1)
    }
}

/// An ordered list of include and `!exclude` globs; the last pattern that matches a path decides.
///
/// With `takingDirectories` (dependency caches, as actions/cache), a pattern that matches a
/// directory matches everything below it too: `.cache/uv-py*` takes `.cache/uv-py3.12/**`.
public struct PathFilter: Sendable {
    public let rules: [(include: Bool, glob: Glob)]
    public let takingDirectories: Bool

    public init(_ patterns: [String], takingDirectories: Bool = false) {
        rules = patterns.map { p in p.hasPrefix("!") ? (false, Glob(String(p.dropFirst()))) : (true, Glob(p)) }
        self.takingDirectories = takingDirectories
    }

    public func includes(_ path: String) -> Bool {
        var result = false
        for rule in rules where rule.include != result {
            if rule.glob.matches(path) || (takingDirectories && !rule.glob.isLiteral && rule.glob.matchesAncestor(path)) { result = rule.include }
        }
        return result
    }

    /// Whether an include pattern without wildcards names `path` or a directory above it: the
    /// path is then asked for explicitly (taken even when git ignores it).
    public func namesLiterally(_ path: String) -> Bool {
        rules.contains { $0.include && $0.glob.isLiteral && $0.glob.matches(path) }
    }

    /// Directories to walk: the literal prefix of every include pattern, most general first,
    /// with directories inside another one dropped.
    public var roots: [String] {
        let prefixes = Set(rules.filter(\.include).map { $0.glob.literalPrefix.joined(separator: "/") })
        return prefixes.sorted().filter { p in
            !prefixes.contains { q in q != p && (q.isEmpty || p.hasPrefix(q + "/")) }
        }
    }
}

extension Glob {
    /// Whether some path below directory `relative` could match (its segments so far agree).
    public func mayMatchBelow(_ relative: String) -> Bool {
        let parts = relative.split(separator: "/")
        var i = 0
        for part in parts {
            guard i < segments.count else { return isLiteral }
            let segment = segments[i]
            if segment == "**" { return true }
            if !Glob(String(segment)).matches(String(part)) { return false }
            i += 1
        }
        return true
    }
}
