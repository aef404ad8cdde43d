import ShipgateEngine
import ShipgateModel

/// Small shared formatting helpers for every reporter.
public enum Format {
    /// `0.4s`, `12.3s`, `2m05s`, `1h02m`.
    public static func duration(ms: Int64) -> String {
        if ms < 60_000 {
            let tenths = (ms + 50) / 100
            return "\(tenths / 10).\(tenths % 10)s"
        }
        let s = ms / 1000
        if s < 3600 { return "\(s / 60)m\(pad(s % 60))s" }
        return "\(s / 3600)h\(pad((s % 3600) / 60))m"
    }

    private static func pad(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    public static func symbol(_ status: JobStatus) -> String {
        switch status {
        case .success: "✓"
        case .cached: "≡"
        case .failed: "✗"
        case .skipped: "-"
        case .cancelled: "⊘"
        case .blocked: "⛔"
        }
    }

    public static func styled(_ status: JobStatus, _ text: String, _ style: Style) -> String {
        switch status {
        case .success: style.green(text)
        case .cached: style.cyan(text)
        case .failed: style.red(text)
        case .skipped: style.dim(text)
        case .cancelled: style.yellow(text)
        case .blocked: style.magenta(text)
        }
    }

    /// Pads `s` to `width` display columns (counting characters).
    public static func padded(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    /// The end-of-run table: job, status, duration, attempts, and the reason for anything not green.
    public static func summary(_ run: RunResult, style: Style) -> String {
        let width = max(3, run.jobs.map(\.id.count).max() ?? 3)
        let statusWidth = max(9, run.jobs.map { $0.status.rawValue.count + 2 }.max() ?? 9)
        var lines = [style.bold(padded("JOB", width) + "  " + padded("STATUS", statusWidth) + "  DURATION  ATTEMPTS")]
        for job in run.jobs {
            let status = padded("\(symbol(job.status)) \(job.status.rawValue)", statusWidth)
            let duration = job.startedAt == nil ? "-" : duration(ms: job.durationMs)
            var line =
                padded(job.id, width) + "  " + styled(job.status, status, style) + "  " + padded(duration, 8) + "  "
                + (job.attempts == 0 ? "-" : "\(job.attempts)")
            if job.status == .failed && job.continueOnError { line += style.dim("  (continue-on-error)") }
            if job.status == .cached, let from = job.cachedFrom { line += style.dim("  (from run \(from))") }
            if job.status != .success && job.status != .cached, let reason = job.reason {
                let indent = padded("", width) + "    "
                line += "\n" + reason.split(separator: "\n", omittingEmptySubsequences: false).map { indent + style.dim(String($0)) }.joined(separator: "\n")
            }
            lines.append(line)
        }
        let counts = Dictionary(grouping: run.jobs, by: \.status).mapValues(\.count)
        let parts = [JobStatus.success, .cached, .failed, .blocked, .skipped, .cancelled].compactMap { s in counts[s].map { "\($0) \(s.rawValue)" } }
        let verdict: String
        switch run.status {
        case .success: verdict = style.green(style.bold("Run \(run.runID) succeeded"))
        case .failed: verdict = style.red(style.bold("Run \(run.runID) failed"))
        case .cancelled: verdict = style.yellow(style.bold("Run \(run.runID) cancelled"))
        case .blocked: verdict = style.magenta(style.bold("Run \(run.runID) blocked by a gate"))
        case .running, .interrupted: verdict = style.bold("Run \(run.runID) \(run.status.rawValue)")
        }
        lines.append("")
        lines.append("\(verdict) in \(duration(ms: run.durationMs)): \(parts.joined(separator: ", ")).")
        return lines.joined(separator: "\n") + "\n"
    }
}
