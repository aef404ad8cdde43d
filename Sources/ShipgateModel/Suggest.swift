/// "Did you mean …?" support: the closest candidate within a small edit distance.
public enum Suggest {
    public static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        var best: (String, Int)?
        let limit = max(2, word.count / 3)
        for candidate in candidates {
            let d = distance(word.lowercased(), candidate.lowercased())
            if d <= limit, d < (best?.1 ?? .max) { best = (candidate, d) }
        }
        return best?.0
    }

    public static func hint(for word: String, in candidates: some Sequence<String>) -> String? {
        closest(to: word, in: candidates).map { "did you mean `\($0)`?" }
    }

    /// Levenshtein distance over characters.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

extension StringProtocol {
    /// Whether `needle` occurs in the text, compared byte for byte (UTF-8). Unlike Foundation's
    /// `contains(_:)`, which bridges to NSString on Linux and shows up in profiles of loading a
    /// large pipeline, it allocates nothing.
    public func contains(literal needle: String) -> Bool { range(ofLiteral: needle) != nil }

    /// The first range where `needle` occurs, compared byte for byte; nil when it does not.
    /// (Foundation's `range(of:)` without the bridging; the bounds are valid `String.Index`es.)
    public func range(ofLiteral needle: String) -> Range<Index>? {
        var needle = needle
        let found: Range<Int>?? = needle.withUTF8 { pattern in
            utf8.withContiguousStorageIfAvailable { hay in Self.search(hay, pattern) }
        }
        // Not contiguous (a bridged string): search a native copy.
        let offsets = found ?? String(self).utf8.withContiguousStorageIfAvailable { hay in needle.withUTF8 { Self.search(hay, $0) } } ?? nil
        guard let offsets else { return nil }
        let lower = utf8.index(startIndex, offsetBy: offsets.lowerBound)
        return lower..<utf8.index(lower, offsetBy: offsets.count)
    }

    private static func search(_ hay: UnsafeBufferPointer<UInt8>, _ pattern: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        guard !pattern.isEmpty else { return 0..<0 }
        guard hay.count >= pattern.count else { return nil }
        let first = pattern[0]
        var i = 0
        while i + pattern.count <= hay.count {
            if hay[i] == first {
                var k = 1
                while k < pattern.count && hay[i + k] == pattern[k] { k += 1 }
                if k == pattern.count { return i..<(i + pattern.count) }
            }
            i += 1
        }
        return nil
    }

    /// Whether the text is empty or only whitespace and newlines (`trimmingCharacters(in:)`
    /// without Foundation).
    public var isBlank: Bool { allSatisfy(\.isWhitespace) }

    /// The text without leading and trailing whitespace and newlines.
    public var trimmed: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }

    /// How many times `needle` occurs without overlapping (`components(separatedBy:).count - 1`).
    public func occurrences(ofLiteral needle: String) -> Int {
        guard !needle.isEmpty else { return 0 }
        var count = 0
        var rest = self[...]
        while let r = rest.range(ofLiteral: needle) {
            count += 1
            rest = rest[r.upperBound...]
        }
        return count
    }
}
