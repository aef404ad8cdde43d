import Foundation
import ShipgateModel
import Yams

/// Reads pipeline text into a YAML node tree, refusing what could hurt the loader.
///
/// Contract: never crashes or hangs on any input. Refuses files over `maxBytes`, text that
/// is not UTF-8 or holds NUL bytes, nesting past libyaml's limit (1000), and documents whose
/// alias-expanded size exceeds `maxNodes` (the "billion laughs" alias bomb). Every refusal and
/// every syntax error comes back as a located diagnostic.
struct YAMLDocument {
    static let maxBytes = 4 << 20
    static let maxNodes = 200_000

    let file: String
    let root: Node

    static func parse(bytes: [UInt8], file: String) -> (YAMLDocument?, [Diagnostic]) {
        let start = SourceLocation(file: file, line: 1, column: 1)
        if bytes.count > maxBytes {
            return (nil, [.error("file is \(bytes.count) bytes; pipeline files are limited to \(maxBytes >> 20) MiB", at: start)])
        }
        if let nul = bytes.firstIndex(of: 0) {
            let line = bytes[..<nul].count(where: { $0 == 10 }) + 1
            return (nil, [.error("file contains a NUL byte: this is not a text file", at: SourceLocation(file: file, line: line, column: 1), hint: "pipeline files are UTF-8 YAML")])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return (nil, [.error("file is not valid UTF-8 text", at: start, hint: "pipeline files are UTF-8 YAML")])
        }
        if text.allSatisfy({ $0.isWhitespace }) || text.split(separator: "\n").allSatisfy({ $0.trimmingPrefix(while: { $0 == " " || $0 == "\t" }).hasPrefix("#") }) {
            return (nil, [.error("file is empty", at: start, hint: "a pipeline needs at least `name:` and `jobs:`")])
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            return (nil, [diagnostic(for: error, file: file)])
        } catch {
            return (nil, [.error("cannot parse YAML: \(error)", at: start)])
        }
        guard let node else {
            return (nil, [.error("file is empty", at: start, hint: "a pipeline needs at least `name:` and `jobs:`")])
        }
        var budget = maxNodes
        if !withinBudget(node, &budget) {
            return (nil, [.error("document expands to more than \(maxNodes) YAML nodes (alias bomb?)", at: start, hint: "remove the recursive anchors (&x / *x)")])
        }
        return (YAMLDocument(file: file, root: node), [])
    }

    /// Counts nodes as if aliases were expanded, stopping as soon as the budget is spent.
    private static func withinBudget(_ node: Node, _ budget: inout Int) -> Bool {
        budget -= 1
        if budget < 0 { return false }
        switch node {
        case .scalar, .alias: return true
        case .sequence(let seq):
            for child in seq where !withinBudget(child, &budget) { return false }
        case .mapping(let map):
            for (k, v) in map where !withinBudget(k, &budget) || !withinBudget(v, &budget) { return false }
        }
        return true
    }

    private static func diagnostic(for error: YamlError, file: String) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        func describe(_ context: YamlError.Context?, _ problem: String) -> String {
            let ctx = context.map { "\($0.text) " } ?? ""
            return "YAML syntax error: \(ctx)\(problem)"
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            var message = describe(context, problem)
            var hint: String? = nil
            if problem.contains("Maximum nesting level") {
                message = "YAML nesting is deeper than 1000 levels"
                hint = "pipelines never need this much nesting; is this the right file?"
            } else if problem.contains("tab") {
                hint = "indent with spaces, not tabs"
            } else if problem.contains("undefined alias") {
                hint = "define the anchor (&name) before using the alias (*name)"
            }
            return .error(message, at: at(mark), hint: hint)
        case let .reader(problem, offset, _, _):
            return .error("cannot read YAML: \(problem)\(offset.map { " at byte \($0)" } ?? "")", at: SourceLocation(file: file, line: 1, column: 1))
        default:
            return .error("cannot parse YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }
}
