import Foundation
import ShipgateEngine
import ShipgateModel

/// A JUnit XML report of a run: one `<testcase>` per job, in a `<testsuite>` named after the
/// pipeline. Failed jobs carry the tail of their log; skipped and cancelled jobs are `<skipped>`.
public enum JUnitReport {
    public static func render(_ run: RunResult, logTail: (JobResult) -> [String]) -> String {
        let failures = run.jobs.filter { $0.status == .failed }.count
        let skipped = run.jobs.filter { $0.status == .skipped || $0.status == .cancelled }.count
        let seconds = { (ms: Int64) in String(format: "%.3f", Double(ms) / 1000) }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml +=
            "<testsuites name=\"\(escape(run.pipeline))\" tests=\"\(run.jobs.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" time=\"\(seconds(run.durationMs))\">\n"
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
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    static func escape(_ s: String) -> String { Markup.escape(s) }
}
