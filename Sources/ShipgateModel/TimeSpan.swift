/// A non-negative duration with millisecond precision, as written in pipelines: `500ms`, `2s`, `1h30m`.
///
/// Kept as an integer so plans compare and encode exactly.
public struct TimeSpan: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    public static func millis(_ ms: Int64) -> TimeSpan { TimeSpan(milliseconds: ms) }
    public static func seconds(_ s: Int64) -> TimeSpan { TimeSpan(milliseconds: s * 1000) }
    public static func minutes(_ m: Int64) -> TimeSpan { TimeSpan(milliseconds: m * 60_000) }
    public static let zero = TimeSpan(milliseconds: 0)

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.milliseconds < b.milliseconds }

    public var duration: Duration { .milliseconds(milliseconds) }

    private static let units: [(String, Int64)] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]

    /// Parses `<number><unit>` parts (units `ms`, `s`, `m`, `h`, `d`); a bare integer means seconds.
    /// Returns nil for anything else, including empty text, negative numbers and overflow.
    public static func parse(_ text: String) -> TimeSpan? {
        let s = text.trimmingCharacters(in: " ")
        guard !s.isEmpty else { return nil }
        if let seconds = Int64(s), seconds >= 0 {
            let (v, o) = seconds.multipliedReportingOverflow(by: 1000)
            return o ? nil : TimeSpan(milliseconds: v)
        }
        var total: Int64 = 0
        var chars = Substring(s)
        while !chars.isEmpty {
            let digits = chars.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let n = Int64(digits) else { return nil }
            chars = chars.dropFirst(digits.count)
            let unitText = chars.prefix { $0.isLetter }
            chars = chars.dropFirst(unitText.count)
            guard let unit = units.first(where: { $0.0 == unitText }) else { return nil }
            let (v, o1) = n.multipliedReportingOverflow(by: unit.1)
            let (t, o2) = total.addingReportingOverflow(v)
            if o1 || o2 { return nil }
            total = t
        }
        return TimeSpan(milliseconds: total)
    }

    /// The shortest exact spelling: `1h30m`, `500ms`, `0s`.
    public var description: String {
        if milliseconds == 0 { return "0s" }
        var rest = milliseconds
        var out = ""
        for (name, size) in Self.units where rest >= size {
            out += "\(rest / size)\(name)"
            rest %= size
        }
        return out
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

extension Duration {
    /// Whole milliseconds (truncated).
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
