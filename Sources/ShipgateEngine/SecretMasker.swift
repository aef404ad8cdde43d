import Foundation

/// Replaces secret values with `***` in any text shipgate writes.
///
/// Masks every occurrence of each value on a single line, longest value first (so a secret
/// that contains another is masked whole), and each line of a multi-line value separately.
/// Not masked, by design: a value split across two output lines, or transformed (base64,
/// URL-encoded, reversed). Immutable and thread-safe.
public struct SecretMasker: Sendable {
    public static let mask = "***"
    private let needles: [String]

    public init(values: some Sequence<String>) {
        var set = Set<String>()
        for value in values {
            for part in value.split(whereSeparator: \.isNewline) {
                let piece = String(part).trimmingCharacters(in: .whitespaces)
                if !piece.isEmpty { set.insert(piece) }
            }
        }
        needles = set.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    public static let none = SecretMasker(values: [])

    public var isEmpty: Bool { needles.isEmpty }

    public func callAsFunction(_ text: String) -> String {
        guard !needles.isEmpty else { return text }
        var out = text
        for needle in needles where out.contains(needle) {
            out = out.replacingOccurrences(of: needle, with: Self.mask)
        }
        return out
    }
}
