import Foundation
import ShipgateEngine
import ShipgateModel

/// Line-oriented output for logs, CI and pipes: every line prefixed with its job,
/// no cursor movement, colour only when asked for. The summary table comes last.
public final class PlainReporter: RunObserver, @unchecked Sendable {
    private let sink: any TextSink
    private let style: Style
    private let lock = NSLock()
    private var attemptsOf: [String: Int] = [:]

    public init(sink: any TextSink, style: Style = Style(enabled: false)) {
        self.sink = sink
        self.style = style
    }

    public func handle(_ event: RunEvent) {
        switch event {
        case .runStarted(let runID, let pipeline, let jobs, let logs):
            sink.write(
                style.bold("shipgate: run \(runID) of \(pipeline): \(jobs.count) job\(jobs.count == 1 ? "" : "s")") + style.dim(" (logs: \(logs))") + "\n")
        case .jobStarted(let job, let attempt):
            sink.write("\(style.cyan("[\(job)]")) ▶ \(attempt > 1 ? "attempt \(attempt)" : "started")\n")
        case .stepStarted(let job, let step, let index, let count, _):
            if count > 1 { sink.write("\(style.cyan("[\(job)]")) \(style.dim("step \(index)/\(count): \(step)"))\n") }
        case .output(let job, let line):
            sink.write("\(style.cyan("[\(job)]")) \(line)\n")
        case .stepFinished:
            break
        case .attemptFailed(let job, let attempt, let reason, let retryIn):
            if let retryIn {
                sink.write(
                    "\(style.cyan("[\(job)]")) \(style.yellow("attempt \(attempt) failed: \(reason); retrying in \(Format.duration(ms: retryIn.milliseconds))"))\n"
                )
            }
        case .jobFinished(let result):
            var line = "\(style.cyan("[\(result.id)]")) \(Format.styled(result.status, "\(Format.symbol(result.status)) \(result.status.rawValue)", style))"
            if result.startedAt != nil { line += " in \(Format.duration(ms: result.durationMs))" }
            if result.attempts > 1 { line += " after \(result.attempts) attempts" }
            if result.status == .cached, let from = result.cachedFrom { line += " (from run \(from))" }
            if let reason = result.reason, result.status != .success && result.status != .cached { line += ": \(reason)" }
            if let reason = result.reason, result.status == .success || result.status == .cached { line += style.dim(" (\(reason))") }
            sink.write(line + "\n")
        case .notice(let job, let level, let message):
            let text = level == .warning ? style.yellow("warning: \(message)") : style.dim(message)
            sink.write((job.map { "\(style.cyan("[\($0)]")) " } ?? "") + text + "\n")
        case .runFinished(let run):
            sink.write("\n" + Format.summary(run, style: style))
        }
    }
}
