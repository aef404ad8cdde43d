import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A job's log file: one line per output line, each prefixed with a UTC timestamp
/// (`2026-11-26T19:58:01.123Z `), streamed as lines arrive.
///
/// Buffering is bounded in size (64 KiB) and in time: a line reaches the file at most about
/// `maxDelay` (1 s) after it was written, through `LogFlusher`, even when the job then prints
/// nothing more; `flush()` (called at the end of every attempt and of the job) writes the rest.
/// So `tail -f` follows a running job, and if shipgate is killed (`kill -9`) at most the last
/// second of output is lost.
///
/// The file is created on the first output line: a job that prints nothing leaves no log
/// (creating thousands of empty files costs more than running thousands of trivial steps).
/// Markers (`mark`: attempt and step boundaries) are kept until then and written first.
///
/// Thread-safe. A write that fails (disk full) is counted, not thrown: losing log lines
/// must never fail a pipeline. Text must already be masked.
public final class JobLog: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var file: UnsafeMutablePointer<FILE>?
    private var opened = false
    private var pendingMarks: [(timespec, String)] = []
    private var cachedSecond: Int = -1
    private var cachedPrefix: [UInt8] = []
    /// When the oldest line not yet flushed was written (`CLOCK_MONOTONIC` seconds); nil when all is flushed.
    private var unflushedSince: Double?
    public private(set) var failedWrites = 0
    /// The longest a written line stays in the buffer.
    public static let maxDelay = 1.0

    public init(path: String) {
        self.path = path
    }

    deinit {
        LogFlusher.shared.remove(self)
        if let file { fclose(file) }
    }

    /// Whether the file was created.
    public var exists: Bool {
        lock.lock()
        defer { lock.unlock() }
        return file != nil
    }

    /// A structural line (attempt, step, result): written only once the job prints anything,
    /// or at once with `force` (a failed job keeps its log so the reason can be read there).
    public func mark(_ line: String, force: Bool = false) {
        let ts = Self.now()
        lock.lock()
        defer { lock.unlock() }
        if opened || force {
            append(line, at: ts)
        } else {
            pendingMarks.append((ts, line))
        }
    }

    public func write(_ line: String) {
        let ts = Self.now()
        lock.lock()
        defer { lock.unlock() }
        append(line, at: ts)
    }

    public func flush() {
        lock.lock()
        if let file { fflush(file) }
        unflushedSince = nil
        lock.unlock()
    }

    /// Flushes when the oldest unflushed line is at least `age` seconds old (`LogFlusher`).
    func flush(ifOlderThan age: Double, now: Double) {
        lock.lock()
        defer { lock.unlock() }
        guard let since = unflushedSince, now - since >= age, let file else { return }
        fflush(file)
        unflushedSince = nil
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private static func now() -> timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts
    }

    /// Caller holds the lock.
    private func append(_ line: String, at ts: timespec) {
        if !opened {
            opened = true
            file = fopen(path, "a")
            if let file {
                setvbuf(file, nil, _IOFBF, 64 * 1024)
                LogFlusher.shared.add(self)
            }
            let marks = pendingMarks
            pendingMarks = []
            for (t, m) in marks { append(m, at: t) }
        }
        guard let file else {
            failedWrites += 1
            return
        }
        var head = prefix(ts)
        head.append(UInt8(ascii: " "))
        var ok = fwrite(head, 1, head.count, file) == head.count
        var text = line
        text.withUTF8 { ok = ok && fwrite($0.baseAddress, 1, $0.count, file) == $0.count }
        ok = ok && fputc(10, file) != EOF
        if !ok {
            failedWrites += 1
            clearerr(file)
        }
        if unflushedSince == nil { unflushedSince = Self.monotonicSeconds() }
    }

    /// `2026-11-26T19:58:01.123Z`; the part up to the second is formatted once per second.
    private func prefix(_ ts: timespec) -> [UInt8] {
        let second = Int(ts.tv_sec)
        if second != cachedSecond {
            cachedSecond = second
            var t = time_t(second)
            var parts = tm()
            gmtime_r(&t, &parts)
            let text = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
            cachedPrefix = Array(text.utf8)
        }
        let millis = Int(ts.tv_nsec) / 1_000_000
        var head = cachedPrefix
        head.append(UInt8(ascii: "."))
        head.append(UInt8(48 + millis / 100))
        head.append(UInt8(48 + (millis / 10) % 10))
        head.append(UInt8(48 + millis % 10))
        head.append(UInt8(ascii: "Z"))
        return head
    }

    /// The last `count` lines of the file (for failure reports), read from its end.
    public static func tail(path: String, lines count: Int, maxBytes: Int = 64 * 1024) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        if start > 0, !lines.isEmpty { lines.removeFirst() }
        return Array(lines.suffix(count))
    }
}
