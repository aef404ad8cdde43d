import Foundation
import ShipgateEngine
import ShipgateModel

/// `--output errors-only`: quiet while jobs succeed; for each job that fails, its log (the last
/// `maxLines` lines, every attempt, prefixed with the job as in plain output), then the summary
/// table. Warnings are shown as they come.
///
/// The log is read from the job's log file when the job has finished (it is flushed by then),
/// so nothing is held in memory while jobs run. Lines keep their masking; the time stamps of
/// the file are left out.
public final class ErrorsOnlyReporter: RunObserver, @unchecked Sendable {
    private let sink: any TextSink
    private let style: Style
    private let maxLines: Int
    private let lock = NSLock()
    private var logDirectory: String?

    public init(sink: any TextSink, style: Style = Style(enabled: false), maxLines: Int = 1000) {
        self.sink = sink
        self.style = style
        self.maxLines = maxLines
    }

    public func handle(_ event: RunEvent) {
        switch event {
        case .runStarted(_, _, _, let logs):
            lock.withLock { logDirectory = logs }
        case .jobFinished(let result) where result.status == .failed:
            sink.write(block(result))
        case .notice(let job, .warning, let message):
            sink.write((job.map { "\(style.cyan("[\($0)]")) " } ?? "") + style.yellow("warning: \(message)") + "\n")
        case .runFinished(let run):
            sink.write("\n" + Format.summary(run, style: style))
        default:
            break
        }
    }

    private func block(_ result: JobResult) -> String {
        let tag = style.cyan("[\(result.id)]")
        var out = "\(tag) \(Format.styled(result.status, "\(Format.symbol(result.status)) \(result.status.rawValue)", style))"
        if result.startedAt != nil { out += " in \(Format.duration(ms: result.durationMs))" }
        if result.attempts > 1 { out += " after \(result.attempts) attempts" }
        if let reason = result.reason { out += ": \(reason)" }
        out += "\n"
        guard let name = result.log, let directory = lock.withLock({ logDirectory }) else { return out }
        let path = (directory as NSString).appendingPathComponent(name)
        let lines = JobLog.tail(path: path, lines: maxLines, maxBytes: 1 << 20)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        if lines.count == maxLines || size > 1 << 20 { out += "\(tag) \(style.dim("… earlier lines in \(path)"))\n" }
        for line in lines { out += "\(tag) \(Self.withoutTimestamp(line))\n" }
        return out
    }

    /// `2026-11-26T19:58:01.123Z text` → `text`.
    static func withoutTimestamp(_ line: String) -> Substring {
        let utf8 = line.utf8
        guard utf8.count >= 25, utf8[utf8.index(utf8.startIndex, offsetBy: 23)] == UInt8(ascii: "Z"),
            utf8[utf8.index(utf8.startIndex, offsetBy: 24)] == UInt8(ascii: " ")
        else { return Substring(line) }
        return line.dropFirst(25)
    }
}
