import Foundation
import ShipgateEngine
import ShipgateModel

/// A JUnit XML report of a run: one `<testcase>` per job, in a `<testsuite>` named after the
/// pipeline. Failed jobs carry the tail of their log; skipped and cancelled jobs are `<skipped>`.
/// The cases of a job's own reports (`junit:`, `testCases`) follow, one `<testsuite>` per job
/// named `pipeline / job`, counted in `<testsuites>`' totals.
public enum JUnitReport {
    public static func render(_ run: RunResult, testCases: (JobResult) -> [TestCase] = { _ in [] }, logTail: (JobResult) -> [String]) -> String {
        let tools = run.jobs.map { ($0, testCases($0)) }.filter { !$1.isEmpty }
        let total = JUnitReader.summarize(tools.flatMap(\.1), files: [])
        let failures = run.jobs.filter { $0.status == .failed }.count
        let skipped = run.jobs.filter { $0.status == .skipped || $0.status == .cancelled }.count
        let seconds = { (ms: Int64) in String(format: "%.3f", Double(ms) / 1000) }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml +=
            "<testsuites name=\"\(escape(run.pipeline))\" tests=\"\(run.jobs.count + total.tests)\" failures=\"\(failures + total.failures)\" \(tools.isEmpty ? "" : "errors=\"\(total.errors)\" ")skipped=\"\(skipped + total.skipped)\" time=\"\(seconds(run.durationMs))\">\n"
        xml +=
            "  <testsuite name=\"\(escape(run.pipeline))\" tests=\"\(run.jobs.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" time=\"\(seconds(run.durationMs))\" timestamp=\"\(ISO8601DateFormatter().string(from: run.startedAt))\">\n"
        xml +=
            "    <properties><property name=\"shipgate.run\" value=\"\(escape(run.runID))\"/><property name=\"shipgate.pipeline.digest\" value=\"\(escape(run.pipelineDigest))\"/></properties>\n"
        for job in run.jobs {
            xml += "    <testcase classname=\"\(escape(run.pipeline))\" name=\"\(escape(job.id))\" time=\"\(seconds(job.durationMs))\">"
            switch job.status {
            case .success:
                break
            case .cached:
                xml += "<system-out>\(escape("cached: restored from run \(job.cachedFrom ?? "?")"))</system-out>"
            case .failed:
                let message = job.reason ?? "failed"
                xml +=
                    "\n      <failure message=\"\(escape(message))\" type=\"\(job.exitCode.map { "exit \($0)" } ?? "failure")\">\(escape(logTail(job).joined(separator: "\n")))</failure>\n    "
            case .skipped, .cancelled, .blocked:
                xml += "<skipped message=\"\(escape(job.reason ?? job.status.rawValue))\"/>"
            }
            xml += "</testcase>\n"
        }
        xml += "  </testsuite>\n"
        for (job, cases) in tools {
            let s = JUnitReader.summarize(cases, files: [])
            let name = escape(run.pipeline + " / " + job.id)
            xml += "  <testsuite name=\"\(name)\" tests=\"\(s.tests)\" failures=\"\(s.failures)\" errors=\"\(s.errors)\" skipped=\"\(s.skipped)\">\n"
            for c in cases {
                let time = c.time.map { " time=\"\(String(format: "%.3f", $0))\"" } ?? ""
                xml += "    <testcase classname=\"\(escape(c.classname))\" name=\"\(escape(c.name))\"\(time)>"
                let message = escape(c.message ?? "")
                switch c.outcome {
                case .passed: break
                case .failed: xml += "<failure message=\"\(message)\"/>"
                case .error: xml += "<error message=\"\(message)\"/>"
                case .skipped: xml += "<skipped message=\"\(message)\"/>"
                }
                xml += "</testcase>\n"
            }
            xml += "  </testsuite>\n"
        }
        xml += "</testsuites>\n"
        return xml
    }

    static func escape(_ s: String) -> String { Markup.escape(s) }
}
