import Foundation
import ShipgateModel

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
    let root: YAMLNode

    static func parse(bytes: [UInt8], file: String) -> (YAMLDocument?, [Diagnostic]) {
        let start = SourceLocation(file: file, line: 1, column: 1)
        if bytes.count > maxBytes {
            return (nil, [.error("file is \(bytes.count) bytes; pipeline files are limited to \(maxBytes >> 20) MiB", at: start)])
        }
        if let nul = bytes.firstIndex(of: 0) {
            let line = bytes[..<nul].count(where: { $0 == 10 }) + 1
            return (
                nil,
                [
                    .error(
                        "file contains a NUL byte: this is not a text file", at: SourceLocation(file: file, line: line, column: 1),
                        hint: "pipeline files are UTF-8 YAML")
                ]
            )
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            return (nil, [.error("file is not valid UTF-8 text", at: start, hint: "pipeline files are UTF-8 YAML")])
        }
        if Self.isBlank(bytes) {
            return (nil, [.error("file is empty", at: start, hint: "a pipeline needs at least `name:` and `jobs:`")])
        }
        let node: YAMLNode?
        do {
            node = try YAMLComposer.compose(bytes, maxNodes: maxNodes)
        } catch {
            return (nil, [diagnostic(for: error, file: file)])
        }
        guard let node else {
            return (nil, [.error("file is empty", at: start, hint: "a pipeline needs at least `name:` and `jobs:`")])
        }
        return (YAMLDocument(file: file, root: node), [])
    }

    /// Only whitespace and `#` comment lines. Stops at the first byte of content.
    static func isBlank(_ bytes: [UInt8]) -> Bool {
        var inComment = false
        for b in bytes {
            if inComment {
                if b == 10 { inComment = false }
            } else if b == UInt8(ascii: "#") {
                inComment = true
            } else if b != 32 && b != 9 && b != 10 && b != 13 {
                return false
            }
        }
        return true
    }

    private static func diagnostic(for failure: YAMLComposer.Failure, file: String) -> Diagnostic {
        switch failure {
        case .tooLarge:
            return .error(
                "document expands to more than \(maxNodes) YAML nodes (alias bomb?)", at: SourceLocation(file: file, line: 1, column: 1),
                hint: "remove the recursive anchors (&x / *x)")
        case .multipleDocuments(let line):
            return .error(
                "file holds more than one YAML document", at: SourceLocation(file: file, line: line, column: 1),
                hint: "a pipeline is one document: remove the `---` separator")
        case .undefinedAlias(let name, let line, let column):
            return .error(
                "alias `*\(name)` refers to no anchor", at: SourceLocation(file: file, line: line, column: column),
                hint: "define the anchor (&\(name)) before using the alias")
        case .syntax(let problem, let context, let line, let column):
            let at = SourceLocation(file: file, line: line, column: column)
            if problem.contains("Maximum nesting level") {
                return .error("YAML nesting is deeper than 1000 levels", at: at, hint: "pipelines never need this much nesting; is this the right file?")
            }
            var hint: String? = nil
            if problem.contains("tab") || (problem.contains("cannot start any token") && column == 1) { hint = "indent with spaces, not tabs" }
            if problem.contains("mapping values are not allowed") { hint = "quote values that contain `: ` (e.g. run: \"echo a: b\")" }
            return .error("YAML syntax error: \(context.map { "\($0) " } ?? "")\(problem)", at: at, hint: hint)
        }
    }
}
