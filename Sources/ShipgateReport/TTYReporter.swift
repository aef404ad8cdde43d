import Foundation
import ShipgateEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Interactive terminal output: job output scrolls above a live status board of the running
/// jobs (spinner, elapsed time, step, last line), redrawn ten times a second; the summary
/// table comes last.
///
/// Output lines are buffered between redraws, at most `maxPending` of them: past that the
/// producer draws synchronously, which slows a chatty step down instead of growing memory.
public final class TTYReporter: RunObserver, @unchecked Sendable {
    private struct Running {
        var started: Date
        var attempt: Int
        var step: String
        var lastLine: String
    }

    private let sink: any TextSink
    private let style = Style(enabled: true)
    private let lock = NSLock()
    private var running: [(id: String, state: Running)] = []
    private var pending: [String] = []
    private var boardHeight = 0
    private var frame = 0
    private var ticker: Task<Void, Never>?
    private let maxPending = 512
    private static let spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

    public init(sink: any TextSink) { self.sink = sink }

    public func handle(_ event: RunEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .runStarted(let runID, let pipeline, let jobs, let logs):
            pending.append(style.bold("shipgate: run \(runID) of \(pipeline): \(jobs.count) job\(jobs.count == 1 ? "" : "s")") + style.dim(" (logs: \(logs))"))
            ticker = Task.detached { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    self?.tick()
                }
            }
        case .jobStarted(let job, let attempt):
            if let i = running.firstIndex(where: { $0.id == job }) {
                running[i].state.attempt = attempt
            } else {
                running.append((job, Running(started: Date(), attempt: attempt, step: "", lastLine: "")))
            }
        case .stepStarted(let job, let step, let index, let count, _):
            if let i = running.firstIndex(where: { $0.id == job }) { running[i].state.step = count > 1 ? "\(index)/\(count) \(step)" : step }
        case .output(let job, let line):
            pending.append("\(style.cyan(job)) \(style.dim("│")) \(line)")
            if let i = running.firstIndex(where: { $0.id == job }) { running[i].state.lastLine = line }
            if pending.count >= maxPending { draw() }
        case .stepFinished:
            break
        case .attemptFailed(let job, let attempt, let reason, let retryIn):
            if let retryIn {
                pending.append(style.yellow("↻ \(job): attempt \(attempt) failed (\(reason)); retrying in \(Format.duration(ms: retryIn.milliseconds))"))
            }
        case .jobFinished(let r):
            running.removeAll { $0.id == r.id }
            var line = Format.styled(r.status, "\(Format.symbol(r.status)) \(r.id)", style)
            if r.startedAt != nil { line += style.dim(" \(Format.duration(ms: r.durationMs))") }
            if r.attempts > 1 { line += style.dim(" (\(r.attempts) attempts)") }
            if r.status == .cached, let from = r.cachedFrom { line += style.dim(" from run \(from)") }
            if r.status != .success && r.status != .cached, let reason = r.reason { line += " " + style.dim(reason) }
            pending.append(line)
        case .notice(let job, let level, let message):
            let text = level == .warning ? style.yellow("warning: \(message)") : style.dim(message)
            pending.append((job.map { "\(style.cyan($0)) \(style.dim("│")) " } ?? "") + text)
        case .runFinished(let run):
            ticker?.cancel()
            running.removeAll()
            draw()
            sink.write("\n" + Format.summary(run, style: style))
        }
    }

    private func tick() {
        lock.lock()
        defer { lock.unlock() }
        frame += 1
        draw()
    }

    /// Erases the board, prints buffered lines, draws the board again. Caller holds the lock.
    private func draw() {
        var out = ""
        if boardHeight > 0 { out += "\u{1B}[\(boardHeight)A\r\u{1B}[J" }
        for line in pending { out += line + "\n" }
        pending.removeAll(keepingCapacity: true)
        let width = Self.terminalWidth()
        let now = Date()
        let shown = running.prefix(12)
        for (id, state) in shown {
            let elapsed = Format.duration(ms: Int64(now.timeIntervalSince(state.started) * 1000))
            let spin = Self.spinner[frame % Self.spinner.count]
            var plain = "\(spin) \(id)  \(elapsed)"
            if state.attempt > 1 { plain += "  attempt \(state.attempt)" }
            if !state.step.isEmpty { plain += "  \(state.step)" }
            if !state.lastLine.isEmpty { plain += "  │ \(state.lastLine)" }
            out += style.cyan(String(plain.prefix(max(10, width - 1)))) + "\n"
        }
        var height = shown.count
        if running.count > shown.count {
            out += style.dim("… and \(running.count - shown.count) more running") + "\n"
            height += 1
        }
        boardHeight = height
        if !out.isEmpty { sink.write(out) }
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 100
    }
}
