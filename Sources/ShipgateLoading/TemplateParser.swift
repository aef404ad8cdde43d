import Foundation
import ShipgateModel

/// Parses `${{ expression }}` parts of a YAML string into a `Template`, with a precise
/// location for each problem (found in the source line, so block scalars point right too).
struct TemplateParser {
    let reader: NodeReader
    let source: SourceLines

    /// A located expression, for checks that need to point at it later.
    struct Reference {
        var expression: Interpolation
        var location: SourceLocation
    }

    func parse(_ node: YAMLNode, what: String) -> (Template, [Reference])? {
        guard let text = reader.scalar(node, what: what) else { return nil }
        return parse(text, node: node)
    }

    /// With `variables` (`env` values), `$NAME`, `${NAME}` and `$$` in the text outside `${{ }}`
    /// are parsed too: the first two as `Interpolation.variable`, `$$` as a literal `$`.
    func parse(_ text: String, node: YAMLNode, variables: Bool = false) -> (Template, [Reference]) {
        var segments: [Template.Segment] = []
        var references: [Reference] = []
        var rest = Substring(text)
        func literal(_ chunk: Substring) {
            guard variables else { return segments.append(.literal(String(chunk))) }
            let (parsed, refs) = self.variables(in: chunk, of: text, node: node)
            segments += parsed
            references += refs
        }
        while let open = rest.range(ofLiteral: "${{") {
            literal(rest[..<open.lowerBound])
            let location = locate(text: text, offset: open.lowerBound, node: node)
            guard let close = rest[open.upperBound...].range(ofLiteral: "}}") else {
                reader.error("unterminated `${{` (missing `}}`)", at: location)
                segments.append(.literal(String(rest[open.lowerBound...])))
                rest = rest[rest.endIndex...]
                break
            }
            let body = rest[open.upperBound..<close.lowerBound].trimmed
            if let expression = Self.expression(body) {
                segments.append(.expression(expression))
                references.append(Reference(expression: expression, location: location))
            } else {
                reader.error(
                    "unknown expression `\(body)` in `${{ }}`", at: location,
                    hint: "use matrix.NAME, env.NAME, needs.JOB.outputs.KEY, git.KEY or hashFiles('GLOB', …)")
                segments.append(.literal(String(rest[open.lowerBound..<close.upperBound])))
            }
            rest = rest[close.upperBound...]
        }
        literal(rest)
        return (Template(segments: segments), references)
    }

    /// `$NAME`, `${NAME}` and `$$` in `chunk` (a part of `text`); any other `$` is literal.
    private func variables(in chunk: Substring, of text: String, node: YAMLNode) -> ([Template.Segment], [Reference]) {
        var segments: [Template.Segment] = []
        var references: [Reference] = []
        var literal = ""
        var i = chunk.startIndex
        func isNameStart(_ c: Character) -> Bool { c == "_" || (c.isASCII && c.isLetter) }
        func isName(_ c: Character) -> Bool { isNameStart(c) || (c.isASCII && c.isNumber) }
        while i < chunk.endIndex {
            let c = chunk[i]
            let next = chunk.index(after: i)
            guard c == "$", next < chunk.endIndex else {
                literal.append(c)
                i = next
                continue
            }
            let location = { locate(text: text, offset: i, node: node, needle: "$") }
            if chunk[next] == "$" {
                literal.append("$")
                i = chunk.index(after: next)
            } else if chunk[next] == "{" {
                let bodyStart = chunk.index(after: next)
                guard let close = chunk[bodyStart...].firstIndex(of: "}") else {
                    reader.error("unterminated `${` (missing `}`)", at: location(), hint: "write `${NAME}`, or `$$` for a literal `$`")
                    literal += chunk[i...]
                    break
                }
                let name = String(chunk[bodyStart..<close])
                if let first = name.first, isNameStart(first), name.allSatisfy(isName) {
                    segments += [.literal(literal), .expression(.variable(name))]
                    references.append(Reference(expression: .variable(name), location: location()))
                    literal = ""
                } else {
                    reader.error(
                        "`${\(name)}` is not a variable reference", at: location(),
                        hint: "only `$NAME` and `${NAME}` are expanded (no defaults or other shell syntax); write `$$` for a literal `$`")
                    literal += chunk[i...close]
                }
                i = chunk.index(after: close)
            } else if isNameStart(chunk[next]) {
                var end = next
                while end < chunk.endIndex, isName(chunk[end]) { end = chunk.index(after: end) }
                let name = String(chunk[next..<end])
                segments += [.literal(literal), .expression(.variable(name))]
                references.append(Reference(expression: .variable(name), location: location()))
                literal = ""
                i = end
            } else {
                literal.append(c)
                i = next
            }
        }
        segments.append(.literal(literal))
        return (segments, references)
    }

    static func expression(_ body: String) -> Interpolation? {
        if body.hasPrefix("hashFiles(") && body.hasSuffix(")") {
            return hashFiles(String(body.dropFirst("hashFiles(".count).dropLast()))
        }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        func isName(_ s: String) -> Bool {
            guard let first = s.first, first.isLetter || first == "_" else { return false }
            return s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        }
        switch parts.count {
        case 2 where parts[0] == "matrix" && isName(parts[1]): return .matrix(parts[1])
        case 2 where parts[0] == "env" && isName(parts[1]): return .env(parts[1])
        case 2 where parts[0] == "git" && isName(parts[1]): return .git(parts[1])
        case 4 where parts[0] == "needs" && parts[2] == "outputs" && isName(parts[1]) && isName(parts[3]):
            return .needsOutput(job: parts[1], key: parts[3])
        default: return nil
        }
    }

    /// `'a', "b/**"` → the patterns; nil unless every argument is a quoted, non-empty string.
    static func hashFiles(_ arguments: String) -> Interpolation? {
        var patterns: [String] = []
        var rest = Substring(arguments)
        while true {
            rest = rest.drop { $0 == " " }
            guard let quote = rest.first, quote == "'" || quote == "\"" else { return nil }
            rest = rest.dropFirst()
            guard let end = rest.firstIndex(of: quote) else { return nil }
            let pattern = String(rest[..<end])
            if pattern.isEmpty { return nil }
            patterns.append(pattern)
            rest = rest[rest.index(after: end)...].drop { $0 == " " }
            if rest.isEmpty { break }
            guard rest.first == "," else { return nil }
            rest = rest.dropFirst()
        }
        return patterns.isEmpty ? nil : .hashFiles(patterns)
    }

    /// Where the `needle` (`${{`, or `$`) at `offset` of the scalar stands in the file.
    private func locate(text: String, offset: Substring.Index, node: YAMLNode, needle: String = "${{") -> SourceLocation {
        let base = reader.location(node)
        let before = text[..<offset]
        let newlines = before.count(where: { $0 == "\n" })
        let isBlock = node.scalar.map { $0.style == .literal || $0.style == .folded } ?? false
        let line = base.line + newlines + (isBlock ? 1 : 0)
        if !isBlock && newlines == 0 {
            let quoted = node.scalar.map { $0.style == .singleQuoted || $0.style == .doubleQuoted } ?? false
            return SourceLocation(file: base.file, line: line, column: base.column + before.count + (quoted ? 1 : 0))
        }
        // Find this occurrence in the source line to get the exact column.
        let linePrefix = before.split(separator: "\n", omittingEmptySubsequences: false).last ?? ""
        let occurrence = linePrefix.occurrences(ofLiteral: needle)
        let sourceLines = source.lines
        if line - 1 < sourceLines.count {
            var search = sourceLines[line - 1][...]
            var seen = 0
            while let r = search.range(ofLiteral: needle) {
                if seen == occurrence {
                    return SourceLocation(
                        file: base.file, line: line, column: sourceLines[line - 1].distance(from: sourceLines[line - 1].startIndex, to: r.lowerBound) + 1)
                }
                seen += 1
                search = search[r.upperBound...]
            }
        }
        return SourceLocation(file: base.file, line: line, column: 1)
    }
}

/// The pipeline text split into lines, on first use only: lines are needed just to place
/// `${{ }}` inside multi-line scalars, so most loads never split the file.
final class SourceLines {
    private let text: String
    private(set) lazy var lines: [Substring] = text.split(separator: "\n", omittingEmptySubsequences: false)
    init(_ text: String) { self.text = text }
}
