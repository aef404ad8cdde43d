import Foundation

/// Reads ISO-8601 times as shipgate writes them (state store, run records, journal):
/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, parsed by hand because pages and `resume` read thousands of
/// them and a formatter per value is slow; any other ISO-8601 form with a zone through
/// `ISO8601DateFormatter`.
public enum UTCTime {
    public static func parse(_ text: String) -> Date? {
        if let d = fast(text) { return d }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }

    /// `YYYY-MM-DDTHH:MM:SS[.mmm]Z` without a formatter; nil for anything else.
    static func fast(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 20 || b.count == 24, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58, b[b.count - 1] == 90 else { return nil }
        func n(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let year = n(0, 4), let month = n(5, 2), let day = n(8, 2), let hour = n(11, 2), let minute = n(14, 2), let second = n(17, 2) else {
            return nil
        }
        var ms = 0
        if b.count == 24 {
            guard b[19] == 46, let m = n(20, 3) else { return nil }
            ms = m
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        return Date(timeIntervalSince1970: Double(seconds) + Double(ms) / 1000)
    }
}
