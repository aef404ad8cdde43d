import Foundation
import ShipgateModel

/// Typed access to YAML nodes that records a located diagnostic for every problem.
///
/// Each accessor returns nil when the node is unusable and has already said why,
/// so the decoder can keep going and report every problem of the file in one pass.
final class NodeReader {
    let file: String
    var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    func location(_ node: YAMLNode) -> SourceLocation {
        SourceLocation(file: file, line: node.mark.line, column: node.mark.column)
    }

    func error(_ message: String, at node: YAMLNode, hint: String? = nil) {
        diagnostics.append(.error(message, at: location(node), hint: hint))
    }

    func error(_ message: String, at location: SourceLocation, hint: String? = nil) {
        diagnostics.append(.error(message, at: location, hint: hint))
    }

    func warning(_ message: String, at node: YAMLNode, hint: String? = nil) {
        diagnostics.append(.warning(message, at: location(node), hint: hint))
    }

    static func kind(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let s): s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string) ? "null" : "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }

    /// The pairs of a mapping, after checking keys: duplicates and unknown keys are reported
    /// (with "did you mean"), and only the first of each known key is returned.
    func mapping(_ node: YAMLNode, what: String, allowed: [String]? = nil) -> [(key: String, keyNode: YAMLNode, value: YAMLNode)]? {
        guard case .mapping(let map) = node else {
            error("\(what) must be a mapping, got \(Self.kind(node))", at: node)
            return nil
        }
        var seen: [String: YAMLNode] = [:]
        var result: [(String, YAMLNode, YAMLNode)] = []
        for pair in map.pairs {
            let keyNode = pair.key, value = pair.value
            guard case .scalar(let keyScalar) = keyNode else {
                error("keys of \(what) must be plain strings, got \(Self.kind(keyNode))", at: keyNode)
                continue
            }
            let key = keyScalar.string
            if let first = seen[key] {
                error("duplicate key `\(key)` in \(what)", at: keyNode, hint: "first defined at \(location(first)); remove one of them")
                continue
            }
            seen[key] = keyNode
            if let allowed, !allowed.contains(key) {
                error(
                    "unknown key `\(key)` in \(what)", at: keyNode,
                    hint: Suggest.hint(for: key, in: allowed) ?? "allowed keys: \(allowed.joined(separator: ", "))")
                continue
            }
            result.append((key, keyNode, value))
        }
        return result
    }

    func sequence(_ node: YAMLNode, what: String) -> [YAMLNode]? {
        guard case .sequence(let seq) = node else {
            error("\(what) must be a list, got \(Self.kind(node))", at: node)
            return nil
        }
        return seq.items
    }

    /// Any non-null scalar, as written (numbers and booleans keep their spelling).
    func scalar(_ node: YAMLNode, what: String) -> String? {
        guard case .scalar(let s) = node, Self.kind(node) != "null" else {
            error("\(what) must be a string, got \(Self.kind(node))", at: node)
            return nil
        }
        return s.string
    }

    func nonEmptyString(_ node: YAMLNode, what: String) -> String? {
        guard let s = scalar(node, what: what) else { return nil }
        if s.isBlank {
            error("\(what) must not be empty", at: node)
            return nil
        }
        return s
    }

    func bool(_ node: YAMLNode, what: String) -> Bool? {
        guard case .scalar(let s) = node else {
            error("\(what) must be true or false, got \(Self.kind(node))", at: node)
            return nil
        }
        switch s.string.lowercased() {
        case "true": return true
        case "false": return false
        default:
            error("\(what) must be true or false, got `\(s.string)`", at: node)
            return nil
        }
    }

    func int(_ node: YAMLNode, what: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let s) = node, let n = Int(s.string) else {
            error("\(what) must be a whole number, got \(Self.kind(node) == "a scalar" ? "`\(node.scalar?.string ?? "")`" : Self.kind(node))", at: node)
            return nil
        }
        guard range.contains(n) else {
            error("\(what) must be between \(range.lowerBound) and \(range.upperBound), got \(n)", at: node)
            return nil
        }
        return n
    }

    func duration(_ node: YAMLNode, what: String) -> TimeSpan? {
        guard case .scalar(let s) = node, Self.kind(node) != "null" else {
            error("\(what) must be a duration like `30s`, `10m` or `1h30m`, got \(Self.kind(node))", at: node)
            return nil
        }
        guard let span = TimeSpan.parse(s.string) else {
            error("invalid duration `\(s.string)` for \(what)", at: node, hint: "write a number with a unit: ms, s, m, h, d (e.g. `90s`, `1h30m`)")
            return nil
        }
        return span
    }

    /// A duration that must be longer than zero.
    func timeout(_ node: YAMLNode, what: String) -> TimeSpan? {
        guard let span = duration(node, what: what) else { return nil }
        if span == .zero {
            error("\(what) must be longer than 0", at: node, hint: "omit it for the default (60m), or give a duration like `10m`")
            return nil
        }
        return span
    }

    /// A limit on silence (`idle-timeout`): a duration longer than zero.
    func idleTimeout(_ node: YAMLNode, what: String) -> TimeSpan? {
        guard let span = duration(node, what: what) else { return nil }
        if span == .zero {
            error("\(what) must be longer than 0", at: node, hint: "omit it for no limit on silence, or give a duration like `10m`")
            return nil
        }
        return span
    }

    func stringList(_ node: YAMLNode, what: String) -> [Located<String>]? {
        guard let items = sequence(node, what: what) else { return nil }
        return items.compactMap { item in
            nonEmptyString(item, what: "an entry of \(what)").map { Located($0, at: location(item)) }
        }
    }
}

extension NodeReader {
    func warning(_ message: String, at location: SourceLocation, hint: String? = nil) {
        diagnostics.append(.warning(message, at: location, hint: hint))
    }
}
