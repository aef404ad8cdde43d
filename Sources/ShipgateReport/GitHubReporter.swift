import Foundation
import ShipgateEngine
import ShipgateModel

/// `--output github` (the default inside GitHub Actions): workflow commands on stdout.
///
/// Contract:
/// - Each job's lines are held until the job finishes, then printed as one `::group::`, so
///   the groups of parallel jobs never interleave. A job's lines are wrapped in
///   `::stop-commands::TOKEN` (a fresh random token per group), so nothing a step prints is
///   taken as a workflow command. At most `maxLines` lines per job are held; the rest are
///   counted and the group says where the full log is.
/// - Failed jobs get an `::error title=JOB::`, blocked gates a `::notice` with the approve
///   command, cache and remote problems a `::warning`.
/// - At the end: the summary table on stdout, Markdown appended to `$GITHUB_STEP_SUMMARY`
///   (`summaryPath`), and `run-id`, `status`, `blocked` written to `$GITHUB_OUTPUT` (`outputPath`).
public final class GitHubReporter: RunObserver, @unchecked Sendable {
    private let sink: any TextSink
    private let summaryPath: String?
    private let outputPath: String?
    private let maxLines: Int
    /// Extra Markdown sections (gates, deployments, the graph), rendered when the run ends.
    private let extraSummary: @Sendable (RunResult) -> String
    private let token: @Sendable () -> String
    private let lock = NSLock()
    private var buffers: [String: [String]] = [:]
    private var dropped: [String: Int] = [:]
    private var logDirectory = ""

    public init(
        sink: any TextSink, summaryPath: String?, outputPath: String?, maxLines: Int = 20_000,
        token: @escaping @Sendable () -> String = { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() },
        extraSummary: @escaping @Sendable (RunResult) -> String = { _ in "" }
    ) {
        self.sink = sink
        self.summaryPath = summaryPath
        self.outputPath = outputPath
        self.maxLines = maxLines
        self.token = token
        self.extraSummary = extraSummary
    }

    public func handle(_ event: RunEvent) {
        switch event {
        case .runStarted(let runID, let pipeline, let jobs, let logs):
            lock.withLock { logDirectory = logs }
            sink.write("shipgate: run \(runID) of \(pipeline): \(jobs.count) job\(jobs.count == 1 ? "" : "s") (logs: \(logs))\n")
        case .jobStarted(let job, let attempt):
            sink.write("▶ \(job) started\(attempt > 1 ? " (attempt \(attempt))" : "")\n")
        case .stepStarted(let job, let step, let index, let count, _):
            hold(job, "── step \(index)/\(count): \(step)")
        case .output(let job, let line):
            hold(job, line)
        case .stepFinished(let job, _, let exitCode, let duration):
            hold(job, "── exit \(exitCode.map(String.init) ?? "-") after \(duration)")
        case .attemptFailed(let job, let attempt, let reason, let retryIn):
            hold(job, "attempt \(attempt) failed: \(reason)" + (retryIn.map { "; retrying in \($0)" } ?? ""))
        case .notice(let job, let level, let message):
            if let job { hold(job, (level == .warning ? "warning: " : "") + message) }
            if level == .warning {
                sink.write("::warning\(job.map { " title=\(Self.property($0))" } ?? "")::\(Self.data(message))\n")
            } else if job == nil {
                sink.write(message + "\n")
            }
        case .jobFinished(let result):
            flushGroup(result)
        case .runFinished(let run):
            // The table quotes job reasons (approver names, comments): inert, like step output.
            let stop = token()
            sink.write("\n::stop-commands::\(stop)\n" + Format.summary(run, style: Style(enabled: false)) + "::\(stop)::\n")
            writeOutputs(run)
            if let summaryPath { Self.append(markdown(run), to: summaryPath) }
        }
    }

    private func hold(_ job: String, _ line: String) {
        lock.withLock {
            if buffers[job, default: []].count < maxLines { buffers[job, default: []].append(line) } else { dropped[job, default: 0] += 1 }
        }
    }

    private func flushGroup(_ r: JobResult) {
        let (lines, lost, logs) = lock.withLock { (buffers.removeValue(forKey: r.id) ?? [], dropped.removeValue(forKey: r.id) ?? 0, logDirectory) }
        var title = "\(Format.symbol(r.status)) \(r.id): \(r.status.rawValue)"
        if r.startedAt != nil { title += " in \(Format.duration(ms: r.durationMs))" }
        if r.attempts > 1 { title += " after \(r.attempts) attempts" }
        var out = ""
        if lines.isEmpty {
            out += Self.inert(title + (r.reason.map { ": \($0.split(separator: "\n").first.map(String.init) ?? "")" } ?? "")) + "\n"
        } else {
            let stop = token()
            out += "::group::\(Self.data(title))\n::stop-commands::\(stop)\n"
            for line in lines { out += line + "\n" }
            if lost > 0 { out += "… \(lost) more line\(lost == 1 ? "" : "s") not shown; the full log is in \(logs)\n" }
            out += "::\(stop)::\n::endgroup::\n"
        }
        switch r.status {
        case .failed where !r.continueOnError:
            out += "::error title=\(Self.property(r.id))::\(Self.data(r.reason ?? "failed"))\n"
        case .failed:
            out += "::warning title=\(Self.property(r.id))::\(Self.data("failed (continue-on-error): \(r.reason ?? "")"))\n"
        case .blocked:
            out += "::notice title=\(Self.property("\(r.id) blocked by a gate"))::\(Self.data(r.reason ?? "blocked"))\n"
        default: break
        }
        sink.write(out)
    }

    private func writeOutputs(_ run: RunResult) {
        guard let outputPath else { return }
        var outputs = JSONObject()
        for job in run.jobs where !job.outputs.isEmpty {
            var o = JSONObject()
            for (k, v) in job.outputs.sorted(by: { $0.key < $1.key }) { o.add(k, v) }
            outputs.add(job.id, raw: o.text)
        }
        var statuses = JSONObject()
        for job in run.jobs { statuses.add(job.id, job.status.rawValue) }
        let pairs = [
            ("run-id", run.runID), ("status", run.status.rawValue), ("blocked", run.status == .blocked ? "true" : "false"),
            ("jobs", statuses.text), ("outputs", outputs.text),
        ]
        Self.append(pairs.map { Self.outputLine($0.0, $0.1) }.joined(), to: outputPath)
    }

    /// `name=value`, or the delimiter form for a value with a newline.
    static func outputLine(_ name: String, _ value: String) -> String {
        guard value.contains("\n") || value.contains("\r") else { return "\(name)=\(value)\n" }
        var delimiter = "ghadelimiter_shipgate"
        while value.contains(delimiter) { delimiter += "_" }
        return "\(name)<<\(delimiter)\n\(value)\n\(delimiter)\n"
    }

    func markdown(_ run: RunResult) -> String {
        let verdict: String
        switch run.status {
        case .success: verdict = "✅ succeeded"
        case .failed: verdict = "❌ failed"
        case .blocked: verdict = "⛔ blocked by a gate"
        case .cancelled, .interrupted: verdict = "⊘ \(run.status.rawValue)"
        case .running: verdict = "running"
        }
        var md = "## shipgate: \(Self.cell(run.pipeline)) — \(verdict)\n\n"
        var facts = ["run `\(run.runID)`"]
        if let git = run.git {
            if let c = git["commit"], !c.isEmpty { facts.append("commit `\(c.prefix(7))`" + (git["branch"].flatMap { $0.isEmpty ? nil : " (\($0))" } ?? "")) }
            if let v = git["version"], !v.isEmpty { facts.append("version `\(v)`") }
            if let a = git["actor"], !a.isEmpty { facts.append("actor \(Self.cell(a))") }
        }
        facts.append(Format.duration(ms: run.durationMs))
        md += facts.joined(separator: " · ") + "\n\n"
        md += "| Job | Status | Duration | Attempts | Cached |\n|---|---|---|---|---|\n"
        for job in run.jobs {
            let duration = job.startedAt == nil ? "–" : Format.duration(ms: job.durationMs)
            let cached = job.status == .cached ? "from run `\(job.cachedFrom ?? "?")`" : ""
            var status = "\(Self.emoji(job.status)) \(job.status.rawValue)"
            if job.status != .success, job.status != .cached, let reason = job.reason {
                status += ": " + Self.cell(reason.split(separator: "\n").first.map(String.init) ?? "")
            }
            md += "| \(Self.cell(job.id)) | \(status) | \(duration) | \(job.attempts == 0 ? "–" : String(job.attempts)) | \(cached) |\n"
        }
        return md + extraSummary(run) + "\n"
    }

    static func emoji(_ s: JobStatus) -> String {
        switch s {
        case .success: "✅"
        case .cached: "♻️"
        case .failed: "❌"
        case .skipped: "⏭️"
        case .cancelled: "⊘"
        case .blocked: "⛔"
        }
    }

    /// A line that is never read as a workflow command (the runner trims leading spaces).
    static func inert(_ line: String) -> String {
        line.trimmingCharacters(in: .whitespaces).hasPrefix("::") ? "\u{200B}" + line : line
    }

    /// Text safe inside a Markdown table cell.
    public static func cell(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    /// Escapes a workflow command's message.
    public static func data(_ s: String) -> String {
        s.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }

    /// Escapes a workflow command's property value.
    public static func property(_ s: String) -> String {
        data(s).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }

    /// `::add-mask::` lines for secret values, one per line of each value.
    public static func maskCommands(_ values: [String]) -> String {
        var seen = Set<String>()
        var out = ""
        for value in values {
            for line in value.split(whereSeparator: \.isNewline) where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                if seen.insert(String(line)).inserted { out += "::add-mask::\(data(String(line)))\n" }
            }
        }
        return out
    }

    public static func append(_ text: String, to path: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

extension GitHubReporter {
    /// `::error file=F,line=L,col=C,title=…::message` for each diagnostic (warnings as
    /// `::warning`), so GitHub marks the pipeline file where the problem is.
    public static func annotations(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map { d in
            var props: [String] = []
            if let at = d.location {
                props += ["file=\(property(at.file))", "line=\(at.line)", "col=\(at.column)"]
            }
            props.append("title=\(property("shipgate: invalid pipeline"))")
            let kind = d.severity == .warning ? "warning" : "error"
            return "::\(kind) \(props.joined(separator: ","))::\(data(d.message + (d.hint.map { " (hint: \($0))" } ?? "")))\n"
        }.joined()
    }
}
