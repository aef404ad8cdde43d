/// A workflow string with `${{ }}` expressions in it, and `if:` conditions.
///
/// Contract: a string that is exactly one `${{ expr }}` (surrounding whitespace allowed)
/// evaluates to the expression's value, whatever its kind (`matrix: ${{ fromJSON(…) }}`);
/// any other string evaluates to text, each expression's value converted by `text`. `${{` inside
/// a quoted string of the expression does not end it.
public struct ExpressionTemplate: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case text(String)
        /// The expression and the offset of its `${{` in the source string.
        case expression(Expression, offset: Int)
    }

    public var segments: [Segment]

    public var isLiteral: Bool { !segments.contains { if case .expression = $0 { true } else { false } } }

    public static func parse(_ source: String) throws(ExpressionError) -> ExpressionTemplate {
        guard source.hasExpressionMarker else { return ExpressionTemplate(segments: [.text(source)]) }
        let chars = Array(source.unicodeScalars)
        var segments: [Segment] = []
        var text = String.UnicodeScalarView()
        var i = 0
        while i < chars.count {
            guard chars[i] == "$", i + 2 < chars.count, chars[i + 1] == "{", chars[i + 2] == "{" else {
                text.append(chars[i])
                i += 1
                continue
            }
            // Find the closing `}}` outside single-quoted strings.
            var j = i + 3
            var quoted = false
            var close: Int?
            while j < chars.count {
                if chars[j] == "'" { quoted.toggle() }
                if !quoted && chars[j] == "}" && j + 1 < chars.count && chars[j + 1] == "}" {
                    close = j
                    break
                }
                j += 1
            }
            guard let close else { throw ExpressionError("unterminated `${{` (missing `}}`)", offset: i) }
            let body = String(String.UnicodeScalarView(chars[(i + 3)..<close]))
            let expression: Expression
            do { expression = try ExpressionParser.parse(body) } catch {
                throw ExpressionError(error.message, offset: i + 3 + (error.offset ?? 0))
            }
            if !text.isEmpty { segments.append(.text(String(text))) }
            text = String.UnicodeScalarView()
            segments.append(.expression(expression, offset: i))
            i = close + 2
        }
        if !text.isEmpty || segments.isEmpty { segments.append(.text(String(text))) }
        return ExpressionTemplate(segments: segments)
    }

    /// The value: the expression's own for a lone `${{ }}`, else the text.
    public func evaluate(in scope: ExpressionScope) throws(ExpressionError) -> ExpressionValue {
        let meaningful = segments.filter { if case .text(let t) = $0 { !t.allSatisfy(\.isWhitespace) } else { true } }
        if meaningful.count == 1, case .expression(let e, _) = meaningful[0] { return try e.evaluate(in: scope) }
        return .string(try text(in: scope))
    }

    public func text(in scope: ExpressionScope) throws(ExpressionError) -> String {
        var out = ""
        for segment in segments {
            switch segment {
            case .text(let t): out += t
            case .expression(let e, _): out += try e.evaluate(in: scope).text
            }
        }
        return out
    }

    /// Every expression in the string.
    public var expressions: [Expression] {
        segments.compactMap { if case .expression(let e, _) = $0 { e } else { nil } }
    }
}

/// A job's or step's `if:`: an expression with or without `${{ }}`; when it calls none of the
/// status functions, GitHub evaluates `success() && (condition)`.
public struct IfCondition: Sendable, Equatable {
    public var expression: Expression

    public static func parse(_ source: String) throws(ExpressionError) -> IfCondition {
        let trimmed = source.trimmingWhitespace
        if trimmed.isEmpty { return .default }
        let expression: Expression
        if trimmed.hasPrefix("${{") && trimmed.hasSuffix("}}"), case let template = try ExpressionTemplate.parse(trimmed),
            template.segments.count == 1, case .expression(let e, _) = template.segments[0]
        {
            expression = e
        } else {
            // `if: ${{ a }} && b` is a string on GitHub (always truthy); a bare condition is an expression.
            guard !trimmed.hasExpressionMarker else {
                return IfCondition(expression: .literal(.string(trimmed)))
            }
            expression = try ExpressionParser.parse(trimmed)
        }
        let statusFunctions: Set<String> = ["success", "always", "failure", "cancelled"]
        if expression.calledFunctions.isDisjoint(with: statusFunctions) {
            return IfCondition(expression: .and([.call("success", []), expression]))
        }
        return IfCondition(expression: expression)
    }

    /// No `if:`: `success()`.
    public static let `default` = IfCondition(expression: .call("success", []))

    public func holds(in scope: ExpressionScope) throws(ExpressionError) -> Bool {
        try expression.evaluate(in: scope).isTruthy
    }
}

extension String {
    /// Whether the text contains `${{`, by a byte search (no Foundation bridging).
    public var hasExpressionMarker: Bool {
        let bytes = utf8
        var i = bytes.startIndex
        while let dollar = bytes[i...].firstIndex(of: 36) {
            let a = bytes.index(after: dollar)
            if a != bytes.endIndex, bytes[a] == 123 {
                let b = bytes.index(after: a)
                if b != bytes.endIndex, bytes[b] == 123 { return true }
            }
            i = a
        }
        return false
    }

    var trimmingWhitespace: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
