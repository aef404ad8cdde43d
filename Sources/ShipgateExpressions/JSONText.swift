/// `toJSON` and `fromJSON`: JSON text as GitHub writes it (two-space indentation, `"key": value`)
/// and reads it (any JSON value; numbers become doubles).
enum JSONText {
    static func write(_ value: ExpressionValue, indent: String = "") -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n.isFinite ? ExpressionValue.javaScript(n) : "null"
        case .string(let s): return quote(s)
        case .array(let a):
            if a.items.isEmpty { return "[]" }
            let inner = indent + "  "
            return "[\n" + a.items.map { inner + write($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let o):
            if o.keys.isEmpty { return "{}" }
            let inner = indent + "  "
            return "{\n" + zip(o.keys, o.orderedValues).map { inner + quote($0) + ": " + write($1, indent: inner) }.joined(separator: ",\n") + "\n" + indent
                + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Parses one JSON value (surrounding whitespace allowed); nesting is bounded.
    static func read(_ text: String) throws(ExpressionError) -> ExpressionValue {
        var reader = Reader(scalars: Array(text.unicodeScalars))
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.i == reader.scalars.count else { throw reader.error("unexpected text after the JSON value") }
        return value
    }

    struct Reader {
        let scalars: [Unicode.Scalar]
        var i = 0

        func error(_ message: String) -> ExpressionError { ExpressionError("fromJSON: \(message) at character \(i + 1)") }

        mutating func skipSpace() {
            while i < scalars.count, [" ", "\n", "\r", "\t"].contains(scalars[i]) { i += 1 }
        }

        mutating func literal(_ word: String, _ value: ExpressionValue) throws(ExpressionError) -> ExpressionValue {
            let w = Array(word.unicodeScalars)
            guard i + w.count <= scalars.count, Array(scalars[i..<(i + w.count)]) == w else { throw error("invalid JSON") }
            i += w.count
            return value
        }

        mutating func value(depth: Int) throws(ExpressionError) -> ExpressionValue {
            guard depth < 200 else { throw error("nested too deeply") }
            guard i < scalars.count else { throw error("unexpected end of the JSON text") }
            switch scalars[i] {
            case "n": return try literal("null", .null)
            case "t": return try literal("true", .bool(true))
            case "f": return try literal("false", .bool(false))
            case "\"": return .string(try string())
            case "[":
                i += 1
                var items: [ExpressionValue] = []
                skipSpace()
                if i < scalars.count, scalars[i] == "]" {
                    i += 1
                    return .array(ExpressionArray(items))
                }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < scalars.count else { throw error("unterminated array") }
                    if scalars[i] == "," {
                        i += 1
                        continue
                    }
                    guard scalars[i] == "]" else { throw error("expected `,` or `]`") }
                    i += 1
                    return .array(ExpressionArray(items))
                }
            case "{":
                i += 1
                var pairs: [(String, ExpressionValue)] = []
                skipSpace()
                if i < scalars.count, scalars[i] == "}" {
                    i += 1
                    return .object(ExpressionObject(pairs))
                }
                while true {
                    skipSpace()
                    guard i < scalars.count, scalars[i] == "\"" else { throw error("expected a key in quotes") }
                    let key = try string()
                    skipSpace()
                    guard i < scalars.count, scalars[i] == ":" else { throw error("expected `:`") }
                    i += 1
                    skipSpace()
                    pairs.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < scalars.count else { throw error("unterminated object") }
                    if scalars[i] == "," {
                        i += 1
                        continue
                    }
                    guard scalars[i] == "}" else { throw error("expected `,` or `}`") }
                    i += 1
                    return .object(ExpressionObject(pairs))
                }
            default:
                let start = i
                while i < scalars.count, "+-.0123456789eE".unicodeScalars.contains(scalars[i]) { i += 1 }
                let text = String(String.UnicodeScalarView(scalars[start..<i]))
                guard !text.isEmpty, let n = Double(text) else { throw error("invalid JSON") }
                return .number(n)
            }
        }

        mutating func string() throws(ExpressionError) -> String {
            i += 1  // opening quote
            var out = String.UnicodeScalarView()
            while true {
                guard i < scalars.count else { throw error("unterminated string") }
                let c = scalars[i]
                i += 1
                if c == "\"" { return String(out) }
                guard c == "\\" else {
                    out.append(c)
                    continue
                }
                guard i < scalars.count else { throw error("unterminated string") }
                let e = scalars[i]
                i += 1
                switch e {
                case "\"", "\\", "/": out.append(e)
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "u":
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), i + 5 < scalars.count, scalars[i] == "\\", scalars[i + 1] == "u" {
                        let mark = i
                        i += 2
                        let low = try hex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            i = mark  // not a pair: the lone surrogate becomes U+FFFD, the next escape is read on its own
                        }
                    }
                    out.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                default: throw error("invalid escape `\\\(e)`")
                }
            }
        }

        mutating func hex4() throws(ExpressionError) -> UInt32 {
            guard i + 4 <= scalars.count, let v = UInt32(String(String.UnicodeScalarView(scalars[i..<(i + 4)])), radix: 16) else {
                throw error("invalid \\u escape")
            }
            i += 4
            return v
        }
    }
}

extension ExpressionValue {
    /// Parses JSON text as `fromJSON` does (any JSON value; numbers become doubles).
    public static func parseJSON(_ text: String) throws(ExpressionError) -> ExpressionValue { try JSONText.read(text) }
}
