/// Parses the text inside `${{ }}` into an `Expression`.
///
/// Contract: total on any input (an error, never a crash), bounded like GitHub's parser: at
/// most `maxLength` characters and `maxDepth` levels, where every operator, property or index
/// link counts as a level (so every tree the evaluator walks is shallow), and
/// the error names the offending token and its offset.
public struct ExpressionParser {
    public static let maxDepth = 50
    public static let maxLength = 21_000

    enum Token: Equatable {
        case number(Double)
        case string(String)
        case name(String)
        case symbol(String)
        case end
    }

    private var tokens: [(Token, Int)] = []
    private var position = 0
    private var depth = 0

    public static func parse(_ text: String) throws(ExpressionError) -> Expression {
        guard text.unicodeScalars.count <= maxLength else {
            throw ExpressionError("the expression is longer than \(maxLength) characters (GitHub's limit)", offset: maxLength)
        }
        var parser = ExpressionParser()
        parser.tokens = try Self.lex(Array(text.unicodeScalars))
        let expression = try parser.parseOr()
        guard case .end = parser.peek else { throw ExpressionError("unexpected \(parser.describe(parser.peek)) after the expression", offset: parser.offset) }
        return expression
    }

    // MARK: - Lexer

    /// Offsets are in Unicode scalars (what libyaml counts as columns).
    static func lex(_ chars: [Unicode.Scalar]) throws(ExpressionError) -> [(Token, Int)] {
        func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }
        func isLetter(_ c: Unicode.Scalar) -> Bool { (c.value | 0x20) >= 97 && (c.value | 0x20) <= 122 || (c.value > 127 && c.properties.isAlphabetic) }
        func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" || (c.value > 127 && c.properties.isWhitespace) }
        var tokens: [(Token, Int)] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if isSpace(c) {
                i += 1
                continue
            }
            let start = i
            if c == "'" {
                var value = String.UnicodeScalarView()
                i += 1
                while true {
                    guard i < chars.count else { throw ExpressionError("unterminated string (missing `'`)", offset: start) }
                    if chars[i] == "'" {
                        if i + 1 < chars.count && chars[i + 1] == "'" {
                            value.append("'")
                            i += 2
                            continue
                        }
                        i += 1
                        break
                    }
                    value.append(chars[i])
                    i += 1
                }
                tokens.append((.string(String(value)), start))
            } else if isDigit(c) || ((c == "-" || c == "+" || c == ".") && i + 1 < chars.count && isDigit(chars[i + 1]) && Self.numberMayStart(tokens)) {
                i += 1
                while i < chars.count
                    && (isLetter(chars[i]) || isDigit(chars[i]) || chars[i] == "."
                        || ((chars[i] == "-" || chars[i] == "+") && (chars[i - 1] == "e" || chars[i - 1] == "E")))
                {
                    i += 1
                }
                let text = String(String.UnicodeScalarView(chars[start..<i]))
                let value = ExpressionValue.parseNumber(text)
                guard !value.isNaN else { throw ExpressionError("invalid number `\(text)`", offset: start) }
                tokens.append((.number(value), start))
            } else if isLetter(c) || c == "_" {
                i += 1
                while i < chars.count && (isLetter(chars[i]) || isDigit(chars[i]) || chars[i] == "_" || chars[i] == "-") { i += 1 }
                tokens.append((.name(String(String.UnicodeScalarView(chars[start..<i]))), start))
            } else {
                let next = i + 1 < chars.count ? chars[i + 1] : " "
                let two = String(String.UnicodeScalarView([c, next]))
                if ["==", "!=", "<=", ">=", "&&", "||"].contains(two) {
                    tokens.append((.symbol(two), start))
                    i += 2
                } else if "()[].,!<>*".unicodeScalars.contains(c) {
                    tokens.append((.symbol(String(c)), start))
                    i += 1
                } else if c == "\"" {
                    throw ExpressionError("strings use single quotes ('…'), not double quotes", offset: start)
                } else {
                    throw ExpressionError("unexpected character `\(c)`", offset: start)
                }
            }
        }
        tokens.append((.end, chars.count))
        return tokens
    }

    /// A sign or dot starts a number only where an operand may start (not after a value).
    private static func numberMayStart(_ tokens: [(Token, Int)]) -> Bool {
        guard let last = tokens.last?.0 else { return true }
        switch last {
        case .number, .string, .name: return false
        case .symbol(let s): return s != ")" && s != "]" && s != "*"
        case .end: return true
        }
    }

    // MARK: - Parser

    private var peek: Token { tokens[position].0 }
    private var offset: Int { tokens[position].1 }

    private mutating func next() -> Token {
        defer { position += 1 }
        return tokens[position].0
    }

    private mutating func accept(_ symbol: String) -> Bool {
        guard peek == .symbol(symbol) else { return false }
        position += 1
        return true
    }

    private mutating func expect(_ symbol: String, _ what: String) throws(ExpressionError) {
        guard accept(symbol) else { throw ExpressionError("expected `\(symbol)` \(what), found \(describe(peek))", offset: offset) }
    }

    private func describe(_ token: Token) -> String {
        switch token {
        case .number(let n): "number `\(ExpressionValue.format(n))`"
        case .string(let s): "string '\(s)'"
        case .name(let n): "`\(n)`"
        case .symbol(let s): "`\(s)`"
        case .end: "the end of the expression"
        }
    }

    private mutating func nested<T>(_ body: (inout Self) throws(ExpressionError) -> T) throws(ExpressionError) -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw ExpressionError("the expression nests deeper than \(Self.maxDepth) levels", offset: offset) }
        return try body(&self)
    }

    private mutating func parseOr() throws(ExpressionError) -> Expression {
        var operands = [try parseAnd()]
        while accept("||") { operands.append(try parseAnd()) }
        return operands.count == 1 ? operands[0] : .or(operands)
    }

    private mutating func parseAnd() throws(ExpressionError) -> Expression {
        var operands = [try parseEquality()]
        while accept("&&") { operands.append(try parseEquality()) }
        return operands.count == 1 ? operands[0] : .and(operands)
    }

    private mutating func parseEquality() throws(ExpressionError) -> Expression {
        var left = try parseComparison()
        var links = 0
        defer { depth -= links }
        while case .symbol(let s) = peek, s == "==" || s == "!=" {
            position += 1
            try deeper(&links)
            left = .binary(s == "==" ? .equal : .notEqual, left, try parseComparison())
        }
        return left
    }

    /// One more level of the tree being built (a link of a left-deep chain).
    private mutating func deeper(_ links: inout Int) throws(ExpressionError) {
        links += 1
        depth += 1
        guard depth <= Self.maxDepth else { throw ExpressionError("the expression nests deeper than \(Self.maxDepth) levels", offset: offset) }
    }

    private mutating func parseComparison() throws(ExpressionError) -> Expression {
        var left = try parseUnary()
        var links = 0
        defer { depth -= links }
        while case .symbol(let s) = peek, let op = Expression.BinaryOperator(rawValue: s), [.less, .lessOrEqual, .greater, .greaterOrEqual].contains(op) {
            position += 1
            try deeper(&links)
            left = .binary(op, left, try parseUnary())
        }
        return left
    }

    private mutating func parseUnary() throws(ExpressionError) -> Expression {
        if accept("!") { return try nested { (p: inout Self) throws(ExpressionError) in .not(try p.parseUnary()) } }
        return try parsePostfix()
    }

    private mutating func parsePostfix() throws(ExpressionError) -> Expression {
        var base = try parsePrimary()
        var links = 0
        defer { depth -= links }
        while true {
            if case .symbol(let s) = peek, s == "." || s == "[" { try deeper(&links) }
            if accept(".") {
                if accept("*") {
                    base = .star(base)
                    continue
                }
                guard case .name(let name) = peek else { throw ExpressionError("expected a property name after `.`, found \(describe(peek))", offset: offset) }
                position += 1
                base = .property(base, name)
            } else if accept("[") {
                if accept("*") {
                    try expect("]", "after `[*`")
                    base = .star(base)
                    continue
                }
                let index = try nested { (p: inout Self) throws(ExpressionError) in try p.parseOr() }
                try expect("]", "to close the index")
                base = .index(base, index)
            } else {
                return base
            }
        }
    }

    private mutating func parsePrimary() throws(ExpressionError) -> Expression {
        let at = offset
        switch next() {
        case .number(let n): return .literal(.number(n))
        case .string(let s): return .literal(.string(s))
        case .name(let name):
            switch name {
            case "null": return .literal(.null)
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "NaN": return .literal(.number(.nan))
            case "Infinity": return .literal(.number(.infinity))
            default: break
            }
            if accept("(") {
                var arguments: [Expression] = []
                if !accept(")") {
                    repeat {
                        arguments.append(try nested { (p: inout Self) throws(ExpressionError) in try p.parseOr() })
                    } while accept(",")
                    try expect(")", "to close the arguments of `\(name)`")
                }
                try Functions.check(name, arguments: arguments.count, offset: at)
                return .call(name, arguments)
            }
            guard !name.contains("-") else { throw ExpressionError("`\(name)` is not a context name", offset: at) }
            return .context(name)
        case .symbol("("):
            let inner = try nested { (p: inout Self) throws(ExpressionError) in try p.parseOr() }
            try expect(")", "to close `(`")
            return inner
        case let token:
            position -= 1
            throw ExpressionError("expected a value, found \(describe(token))", offset: at)
        }
    }
}
