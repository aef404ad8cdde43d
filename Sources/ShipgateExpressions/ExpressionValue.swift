import Foundation

/// A value of GitHub's expression language: what contexts hold and expressions produce.
///
/// Contract (GitHub's documented semantics, as its runner and `actions/languageservices`
/// implement them): arrays and objects are compared by identity, never by content, so they are
/// classes; object keys are case-insensitive and keep their first spelling and insertion order;
/// an array made by the `.*` filter is marked `filtered` (indexing it maps over its items).
public enum ExpressionValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array(ExpressionArray)
    case object(ExpressionObject)

    /// `false`, `0`, `-0`, `NaN`, `""` and `null` are falsy; everything else (arrays and objects
    /// included, whatever they hold) is truthy.
    public var isTruthy: Bool {
        switch self {
        case .null: false
        case .bool(let b): b
        case .number(let n): !(n == 0 || n.isNaN)
        case .string(let s): !s.isEmpty
        case .array, .object: true
        }
    }

    /// The value as text where a string is expected (interpolation, `format`, `join`):
    /// null is empty, numbers as JavaScript prints them (at most 15 decimals), arrays and
    /// objects `Array` and `Object` (use `toJSON` for their content).
    public var text: String {
        switch self {
        case .null: ""
        case .bool(let b): b ? "true" : "false"
        case .number(let n): Self.format(n)
        case .string(let s): s
        case .array: "Array"
        case .object: "Object"
        }
    }

    /// The value as a number for comparisons of different kinds: null 0, booleans 1 and 0,
    /// strings as JavaScript's `Number(…)` reads them, arrays and objects NaN.
    public var number: Double {
        switch self {
        case .null: 0
        case .bool(let b): b ? 1 : 0
        case .number(let n): n
        case .string(let s): Self.parseNumber(s)
        case .array, .object: .nan
        }
    }

    /// The value as `toJSON` writes it (two-space indentation).
    public var json: String { JSONText.write(self) }

    var isPrimitive: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    var kindOrder: Int {
        switch self {
        case .null: 0
        case .bool: 1
        case .number: 2
        case .string: 3
        case .array: 4
        case .object: 5
        }
    }

    /// JavaScript's `Number(text)`: surrounding whitespace ignored, empty is 0, decimal with an
    /// optional sign and exponent, `0x`/`0o`/`0b` integers, `Infinity`; anything else NaN.
    public static func parseNumber(_ raw: String) -> Double {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return 0 }
        let lower = text.lowercased()
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where lower.hasPrefix(prefix) {
            let digits = lower.dropFirst(2)
            guard !digits.isEmpty, let value = UInt64(digits, radix: radix) else { return .nan }
            return Double(value)
        }
        switch text {
        case "Infinity", "+Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: break
        }
        // Double(String) also takes "inf", "nan" and hex floats, which JavaScript does not.
        let allowed = Set("0123456789+-.eE")
        guard text.allSatisfy(allowed.contains), text.contains(where: \.isNumber), let value = Double(text) else { return .nan }
        return value
    }

    /// As JavaScript prints `+n.toFixed(15)` (how GitHub turns numbers into text): at most 15
    /// decimals, integers without a fraction.
    public static func format(_ n: Double) -> String {
        guard n.isFinite, abs(n) < 1e21 else { return javaScript(n) }
        return javaScript(Double(String(format: "%.15f", n)) ?? n)
    }

    /// JavaScript's `Number.prototype.toString`: the shortest text that reads back as `n`, in
    /// decimal notation from 1e-7 (exclusive) up to 1e21 (exclusive), else `1.5e-7` / `1e+21`.
    public static func javaScript(_ n: Double) -> String {
        if n == 0 { return "0" }
        if n.isNaN { return "NaN" }
        if n.isInfinite { return n > 0 ? "Infinity" : "-Infinity" }
        if n == n.rounded(), abs(n) < 1e21 { return abs(n) < 9e18 ? String(Int64(n)) : String(format: "%.0f", n) }
        let swift = "\(n)"  // shortest round-trip digits; exponent form as d.ddde±XX
        guard let e = swift.firstIndex(of: "e"), let exponent = Int(swift[swift.index(after: e)...]) else { return swift }
        let mantissa = swift[..<e]
        let negative = mantissa.hasPrefix("-")
        let digits = mantissa.filter(\.isNumber)
        let sign = negative ? "-" : ""
        if exponent < 0 && exponent >= -6 {
            return sign + "0." + String(repeating: "0", count: -exponent - 1) + digits
        }
        if exponent > 0 && exponent < 21 {
            let padded = digits + String(repeating: "0", count: max(0, exponent + 1 - digits.count))
            let integer = padded.prefix(exponent + 1)
            let fraction = padded.dropFirst(exponent + 1)
            return sign + integer + (fraction.isEmpty ? "" : "." + fraction)
        }
        let m = digits.count > 1 ? String(digits.first!) + "." + digits.dropFirst() : digits
        return sign + m + "e" + (exponent < 0 ? "-" : "+") + String(abs(exponent))
    }
}

/// An array value; compared by identity.
public final class ExpressionArray: Sendable {
    public let items: [ExpressionValue]
    /// Made by the `.*` filter: indexing it indexes each item and collects what is found.
    public let filtered: Bool

    public init(_ items: [ExpressionValue], filtered: Bool = false) {
        self.items = items
        self.filtered = filtered
    }
}

/// An object value: keys case-insensitive, first spelling and order kept; compared by identity.
public final class ExpressionObject: Sendable {
    public let keys: [String]
    private let values: [String: ExpressionValue]

    public init(_ pairs: [(String, ExpressionValue)]) {
        var keys: [String] = []
        var values: [String: ExpressionValue] = [:]
        for (key, value) in pairs {
            let folded = Self.fold(key)
            if values[folded] == nil { keys.append(key) }
            values[folded] = value
        }
        self.keys = keys
        self.values = values
    }

    public convenience init(_ dictionary: [String: ExpressionValue]) {
        self.init(dictionary.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    public subscript(key: String) -> ExpressionValue? { values[Self.fold(key)] }

    /// Values in key order.
    public var orderedValues: [ExpressionValue] { keys.map { values[Self.fold($0)]! } }

    /// Case folding as GitHub compares names and strings: ordinal upper case, except that the
    /// dotless ı is kept (it must not become I).
    static func fold(_ s: String) -> String {
        // ASCII (almost every name): upper-cased byte by byte, no Unicode tables.
        var ascii = true
        var upper = false
        for b in s.utf8 {
            if b >= 0x80 {
                ascii = false
                break
            }
            if b >= 0x61 && b <= 0x7A { upper = true }
        }
        if ascii {
            guard upper else { return s }
            return String(decoding: s.utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
        }
        guard s.unicodeScalars.contains("ı") else { return s.uppercased() }
        return s.split(separator: "ı", omittingEmptySubsequences: false).map { $0.uppercased() }.joined(separator: "ı")
    }
}

extension ExpressionValue {
    /// Convenience for building contexts: strings, nested dictionaries and arrays of them.
    public static func from(_ any: Any?) -> ExpressionValue {
        switch any {
        case nil, is NSNull: return .null
        case let v as ExpressionValue: return v
        case let b as Bool: return .bool(b)
        case let i as Int: return .number(Double(i))
        case let d as Double: return .number(d)
        case let s as String: return .string(s)
        case let a as [Any?]: return .array(ExpressionArray(a.map(from)))
        case let o as [String: Any?]: return .object(ExpressionObject(o.mapValues(from)))
        default: return .string("\(any!)")
        }
    }
}
