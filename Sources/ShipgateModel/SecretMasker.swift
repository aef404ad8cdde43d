import Foundation
import Synchronization

/// Replaces secret values with `***` in any text shipgate writes.
///
/// Masks every occurrence of each value on a single line, longest value first (so a secret
/// that contains another is masked whole), and each line of a multi-line value separately.
/// Not masked, by design: a value split across two output lines, or transformed (base64,
/// URL-encoded, reversed). Thread-safe; copies share what they mask, and `learn` adds values
/// that exist only later in a run (secrets fetched once a gate passed) for every copy.
public struct SecretMasker: Sendable {
    public static let mask = "***"
    private final class Needles: Sendable {
        let list: Mutex<[String]>
        init(_ list: [String]) { self.list = Mutex(list) }
    }
    private let needles: Needles

    public init(values: some Sequence<String>) {
        needles = Needles(Self.sorted(Self.pieces(values)))
    }

    /// A masker that masks nothing (do not `learn` into it).
    public static var none: SecretMasker { SecretMasker(values: []) }

    public var isEmpty: Bool { needles.list.withLock { $0.isEmpty } }

    /// Masks `values` from now on, in this masker and every copy of it.
    public func learn(_ values: some Sequence<String>) {
        let new = Self.pieces(values)
        needles.list.withLock { $0 = Self.sorted(Set($0).union(new)) }
    }

    public func callAsFunction(_ text: String) -> String {
        let needles = self.needles.list.withLock { $0 }
        guard !needles.isEmpty else { return text }
        var out = text
        for needle in needles where out.contains(needle) {
            out = out.replacingOccurrences(of: needle, with: Self.mask)
        }
        return out
    }

    private static func pieces(_ values: some Sequence<String>) -> Set<String> {
        var set = Set<String>()
        for value in values {
            for part in value.split(whereSeparator: \.isNewline) {
                let piece = String(part).trimmingCharacters(in: .whitespaces)
                if !piece.isEmpty { set.insert(piece) }
            }
        }
        return set
    }

    private static func sorted(_ set: Set<String>) -> [String] {
        set.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }
}
