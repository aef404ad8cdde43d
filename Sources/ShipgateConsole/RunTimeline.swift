import Foundation
import ShipgateEngine
import ShipgateState

/// One run as a page: a summary, a Gantt chart of its jobs (SVG drawn here, no scripts), each
/// job's result, its gates, and its logs. The console serves it at `/runs/ID`; `shipgate
/// report RUN --html FILE` writes the same page as one self-contained file (logs embedded).
public struct RunTimeline {
    public var run: RunRow
    public var jobs: [JobResult]
    public var attempts: [AttemptRow]
    public var gates: [GateRow]
    /// Job id → log text to embed (the report file), or nil to link to `logURL` instead.
    public var embeddedLogs: [String: String]?
    public var logURL: ((JobResult) -> String?)?
    /// Job id → when it finished, to the millisecond (the state store's column; a record's own
    /// timestamps have whole seconds).
    public var finishedAt: [String: Date] = [:]

    public init(
        run: RunRow, jobs: [JobResult], attempts: [AttemptRow], gates: [GateRow], embeddedLogs: [String: String]? = nil,
        logURL: ((JobResult) -> String?)? = nil
    ) {
        self.run = run
        self.jobs = jobs
        self.attempts = attempts
        self.gates = gates
        self.embeddedLogs = embeddedLogs
        self.logURL = logURL
    }

    /// When a job ran: its precise finish time less its duration, else its recorded times.
    func interval(_ j: JobResult) -> (start: Date, end: Date)? {
        if let end = finishedAt[j.id] ?? j.finishedAt, j.startedAt != nil || finishedAt[j.id] != nil {
            return (end.addingTimeInterval(-Double(j.durationMs) / 1000), end)
        }
        return j.startedAt.map { ($0, $0.addingTimeInterval(Double(j.durationMs) / 1000)) }
    }

    /// Jobs that ran, in start order; jobs that never started follow, by id.
    var ordered: [JobResult] {
        jobs.sorted { a, b in
            switch (interval(a)?.start, interval(b)?.start) {
            case (let x?, let y?): x == y ? a.id < b.id : x < y
            case (.some, nil): true
            case (nil, .some): false
            case (nil, nil): a.id < b.id
            }
        }
    }

    /// The page body (inside the console frame, or `standalone()`).
    public func body() -> String {
        let e = HTML.esc
        var html = "<h1>Run <code>\(e(run.id))</code> \(HTML.status(run.status))</h1>"
        let started = StateTime.date(run.startedAt)
        let finished = run.finishedAt.flatMap(StateTime.date)
        let total = started.map { s in Int64(((finished ?? jobs.compactMap { interval($0)?.end }.max() ?? s).timeIntervalSince(s)) * 1000) }
        html += """
            <div class="card"><table>
            <tr><th>Pipeline</th><td>\(e(run.pipeline)) <span class="muted">\(e(run.pipelineFile))</span></td>\
            <th>Actor</th><td>\(e(run.actor))</td></tr>
            <tr><th>Commit</th><td>\(HTML.short(run.commitID)) \(e(run.branch.map { "on \($0)" } ?? ""))</td>\
            <th>Version</th><td>\(e(run.version ?? "–"))</td></tr>
            <tr><th>Started</th><td>\(e(run.startedAt))</td><th>Duration</th><td>\(total.map(HTML.duration) ?? "–")</td></tr>
            <tr><th>Host</th><td>\(e(run.host))</td><th>Jobs</th><td>\(summaryCounts())</td></tr>
            </table></div>
            """
        html += "<h2>Timeline</h2><div class=\"card\">\(gantt())</div>"
        html += "<h2>Jobs</h2><table><tr><th>Job</th><th>Status</th><th>Duration</th><th>Attempts</th><th>Detail</th><th>Log</th></tr>"
        for j in ordered {
            var detail = j.reason.map(e) ?? ""
            if let from = j.cachedFrom { detail += (detail.isEmpty ? "" : "<br>") + "cached from run <code>\(e(from))</code>" }
            if let tests = j.tests {
                let failing = tests.failed.map { "<br><span class=\"muted\">✗ \(e($0))</span>" }.joined()
                detail += (detail.isEmpty ? "" : "<br>") + "tests: \(e(tests.text))" + failing
            }
            if let digest = j.artifactsDigest { detail += (detail.isEmpty ? "" : "<br>") + "artifacts <code>\(e(String(digest.prefix(19))))…</code>" }
            let failed = attempts.filter { $0.job == j.id }.sorted { $0.attempt < $1.attempt }
            for a in failed { detail += "<br><span class=\"muted\">attempt \(a.attempt) \(e(a.status)): \(e(a.reason ?? ""))</span>" }
            var log = "–"
            if embeddedLogs?[j.id] != nil {
                log = "<a href=\"#log-\(e(anchor(j.id)))\">below</a>"
            } else if let url = logURL?(j) {
                log = "<a href=\"\(e(url))\">log</a>"
            }
            html += """
                <tr><td><code>\(e(j.id))</code></td><td>\(HTML.status(j.status.rawValue))</td><td>\(HTML.duration(ms: j.durationMs))</td>\
                <td>\(j.attempts)</td><td>\(detail)</td><td>\(log)</td></tr>
                """
        }
        html += "</table>"
        if !gates.isEmpty {
            html += "<h2>Gates</h2><table><tr><th>Environment</th><th>Job</th><th>Status</th><th>Rules</th></tr>"
            for g in gates {
                html += "<tr><td>\(e(g.environment))</td><td><code>\(e(g.job))</code></td><td>\(HTML.status(g.status))</td><td>\(Self.rules(g))</td></tr>"
            }
            html += "</table>"
        }
        if let logs = embeddedLogs, !logs.isEmpty {
            html += "<h2>Logs</h2>"
            for j in ordered {
                guard let text = logs[j.id] else { continue }
                html += "<details id=\"log-\(e(anchor(j.id)))\"><summary><code>\(e(j.id))</code></summary><pre>\(e(text))</pre></details>"
            }
        }
        return html
    }

    /// A whole HTML document with no outside references.
    public func standalone() -> String { HTML.page(title: "Run \(run.id)", body: body()) }

    func summaryCounts() -> String {
        var counts: [String: Int] = [:]
        for j in jobs { counts[j.status.rawValue, default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }.map { "\($0.value) \(HTML.esc($0.key))" }.joined(separator: ", ")
    }

    func anchor(_ id: String) -> String { String(id.map { $0.isLetter || $0.isNumber ? $0 : "-" }) }

    /// The rules of a recorded gate decision, ✓/✗ each.
    static func rules(_ gate: GateRow) -> String {
        guard let data = gate.decision.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let rules = object["rules"] as? [[String: Any]]
        else { return "" }
        return "<ul class=\"rules\">"
            + rules.map { r in
                let ok = r["passed"] as? Bool ?? false
                return
                    "<li class=\"\(ok ? "ok" : "bad")\">\(ok ? "✓" : "✗") <b>\(HTML.esc(r["rule"] as? String ?? ""))</b> \(HTML.esc(r["detail"] as? String ?? ""))</li>"
            }.joined() + "</ul>"
    }

    /// The Gantt chart: one row per job, a bar from start to finish coloured by status, with
    /// the failed attempts before the final one marked on the bar.
    func gantt() -> String {
        let rows = ordered
        let spans = rows.compactMap(interval)
        guard let t0 = spans.map(\.start).min() ?? StateTime.date(run.startedAt) else { return "<p class=\"muted\">No job started.</p>" }
        let t1 = max(spans.map(\.end).max() ?? t0, t0.addingTimeInterval(0.001))
        let span = t1.timeIntervalSince(t0)
        let label = 190.0, width = 900.0, rowH = 22.0, top = 26.0
        let plot = width - label - 16
        let height = top + Double(rows.count) * rowH + 8
        func x(_ d: Date) -> Double { label + plot * d.timeIntervalSince(t0) / span }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="100%" role="img" \
            aria-label="Timeline of run \(HTML.esc(run.id))">
            """
        // Time axis: five ticks.
        for i in 0...4 {
            let tx = label + plot * Double(i) / 4
            svg += "<line x1=\"\(f(tx))\" y1=\"\(f(top - 6))\" x2=\"\(f(tx))\" y2=\"\(f(height - 4))\" stroke=\"#e4e7ec\"/>"
            svg +=
                "<text x=\"\(f(tx))\" y=\"14\" text-anchor=\"middle\" fill=\"#667085\">\(HTML.esc(HTML.duration(ms: Int64(span * 1000 * Double(i) / 4))))</text>"
        }
        for (i, j) in rows.enumerated() {
            let y = top + Double(i) * rowH
            let name = j.id.count > 28 ? String(j.id.prefix(27)) + "…" : j.id
            svg += "<text x=\"\(f(label - 8))\" y=\"\(f(y + 15))\" text-anchor=\"end\" fill=\"#1d2330\">\(HTML.esc(name))</text>"
            guard let (s, e) = interval(j) else {
                svg += "<text x=\"\(f(label + 4))\" y=\"\(f(y + 15))\" fill=\"#667085\">\(HTML.esc(j.status.rawValue))</text>"
                continue
            }
            let bx = x(s), bw = max(2, x(e) - bx)
            svg += """
                <rect x="\(f(bx))" y="\(f(y + 4))" width="\(f(bw))" height="\(f(rowH - 8))" rx="3" fill="\(Self.colour(j.status.rawValue))">\
                <title>\(HTML.esc(j.id)): \(HTML.esc(j.status.rawValue)), \(HTML.esc(HTML.duration(ms: j.durationMs))), \(j.attempts) attempt\(j.attempts == 1 ? "" : "s")</title></rect>
                """
            // Failed attempts before the last: thin marks where they ended.
            for a in attempts where a.job == j.id {
                guard let at = StateTime.date(a.at), at >= s, at <= e else { continue }
                svg +=
                    "<line x1=\"\(f(x(at)))\" y1=\"\(f(y + 2))\" x2=\"\(f(x(at)))\" y2=\"\(f(y + rowH - 2))\" stroke=\"#8a1c1c\" stroke-width=\"2\"><title>attempt \(a.attempt) failed</title></line>"
            }
            // The duration right of the bar, or inside its end when the bar reaches the edge.
            let label = HTML.esc(HTML.duration(ms: j.durationMs))
            if bx + bw + 70 < width {
                svg += "<text x=\"\(f(bx + bw + 4))\" y=\"\(f(y + 15))\" fill=\"#667085\">\(label)</text>"
            } else {
                svg += "<text x=\"\(f(bx + bw - 4))\" y=\"\(f(y + 15))\" text-anchor=\"end\" fill=\"#ffffff\">\(label)</text>"
            }
        }
        return svg + "</svg>"
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func colour(_ status: String) -> String {
        switch status {
        case "success": "#3fa463"
        case "cached": "#8fd1a4"
        case "failed": "#d64545"
        case "cancelled", "interrupted": "#9b8fd1"
        case "blocked": "#e0a800"
        default: "#98a2b3"
        }
    }
}
