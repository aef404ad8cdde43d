/// Builds one-line JSON objects with keys in the order given (stable, documented output),
/// escaping strings per RFC 8259. No Foundation, no reflection: this runs per output line.
public struct JSONObject {
    private var parts: [String] = []
    public init() {}

    public mutating func add(_ key: String, _ value: String?) { parts.append("\(Self.quote(key)):\(value.map(Self.quote) ?? "null")") }
    public mutating func add(_ key: String, _ value: Int64?) { parts.append("\(Self.quote(key)):\(value.map { String($0) } ?? "null")") }
    public mutating func add(_ key: String, _ value: Int) { parts.append("\(Self.quote(key)):\(value)") }
    public mutating func add(_ key: String, _ value: Bool) { parts.append("\(Self.quote(key)):\(value)") }
    public mutating func add(_ key: String, raw: String) { parts.append("\(Self.quote(key)):\(raw)") }

    public var text: String { "{" + parts.joined(separator: ",") + "}" }

    public static func quote(_ s: String) -> String {
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F }) { return "\"" + s + "\"" }
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    public static func array(_ items: [String]) -> String { "[" + items.map(quote).joined(separator: ",") + "]" }
}
