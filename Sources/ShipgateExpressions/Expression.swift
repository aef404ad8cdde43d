/// A parsed expression of GitHub's expression language (the text inside `${{ }}`).
///
/// Grammar and precedence as GitHub documents them, highest first: grouping `( )`, index
/// `[ ]` and property `.` (with the `.*` and `[*]` filter), `!`, `<` `<=` `>` `>=`, `==` `!=`,
/// `&&`, `||`. Literals: `null`, `true`, `false`, numbers (JSON, `0x` hex, exponents, `NaN`,
/// `Infinity`), strings in single quotes (`''` is a quote). Names of contexts, properties and
/// functions are case-insensitive; property names may contain `-`.
public indirect enum Expression: Sendable, Equatable {
    case literal(Literal)
    /// A top-level name: a context (`github`, `matrix`, …).
    case context(String)
    /// `base.name` or `base['name']` (the index an expression), `base.*` / `base[*]`.
    case property(Expression, String)
    case index(Expression, Expression)
    case star(Expression)
    case not(Expression)
    case binary(BinaryOperator, Expression, Expression)
    /// `&&` / `||` over two or more operands, evaluated left to right with short-circuit; the
    /// result is the operand that decided (not a boolean).
    case and([Expression])
    case or([Expression])
    case call(String, [Expression])

    public enum Literal: Sendable, Equatable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
    }

    public enum BinaryOperator: String, Sendable {
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
    }

    /// Every function name the expression calls, lower-cased.
    public var calledFunctions: Set<String> {
        var names = Set<String>()
        visit { if case .call(let name, _) = $0 { names.insert(name.lowercased()) } }
        return names
    }

    /// Every context the expression reads, lower-cased.
    public var contexts: Set<String> {
        var names = Set<String>()
        visit { if case .context(let name) = $0 { names.insert(name.lowercased()) } }
        return names
    }

    /// Calls `body` on this expression and every expression inside it, outermost first.
    public func visit(_ body: (Expression) -> Void) {
        body(self)
        switch self {
        case .literal, .context: break
        case .property(let e, _), .star(let e), .not(let e): e.visit(body)
        case .index(let a, let b), .binary(_, let a, let b):
            a.visit(body)
            b.visit(body)
        case .and(let es), .or(let es), .call(_, let es): es.forEach { $0.visit(body) }
        }
    }
}

/// A problem in an expression's text, with the 0-based offset (in characters) where it is.
public struct ExpressionError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var offset: Int?

    public init(_ message: String, offset: Int? = nil) {
        self.message = message
        self.offset = offset
    }

    public var description: String { message }
}
