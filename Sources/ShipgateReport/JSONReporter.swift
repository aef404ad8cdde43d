import ShipgateEngine
import ShipgateModel

/// `--output json`: one JSON object per line on stdout, schema documented in
/// docs/pipeline-format.md. Field order is fixed; new fields are only ever added.
public struct JSONReporter: RunObserver {
    private let sink: any TextSink

    public init(sink: any TextSink) { self.sink = sink }

    public func handle(_ event: RunEvent) {
        var o = JSONObject()
        switch event {
        case .runStarted(let runID, let pipeline, let jobs, let logs):
            o.add("event", "run-started")
            o.add("run", runID)
            o.add("pipeline", pipeline)
            o.add("jobs", raw: JSONObject.array(jobs))
            o.add("logDirectory", logs)
        case .jobStarted(let job, let attempt):
            o.add("event", "job-started")
            o.add("job", job)
            o.add("attempt", attempt)
        case .stepStarted(let job, let step, let index, let count, let attempt):
            o.add("event", "step-started")
            o.add("job", job)
            o.add("step", step)
            o.add("index", index)
            o.add("count", count)
            o.add("attempt", attempt)
        case .output(let job, let line):
            o.add("event", "output")
            o.add("job", job)
            o.add("line", line)
        case .stepFinished(let job, let step, let exitCode, let duration):
            o.add("event", "step-finished")
            o.add("job", job)
            o.add("step", step)
            o.add("exitCode", exitCode.map(Int64.init))
            o.add("durationMs", duration.milliseconds)
        case .attemptFailed(let job, let attempt, let reason, let retryIn):
            o.add("event", "attempt-failed")
            o.add("job", job)
            o.add("attempt", attempt)
            o.add("reason", reason)
            o.add("retryInMs", retryIn?.milliseconds)
        case .jobFinished(let r):
            o.add("event", "job-finished")
            o.add("job", r.id)
            o.add("status", r.status.rawValue)
            o.add("attempts", r.attempts)
            o.add("durationMs", r.durationMs)
            o.add("exitCode", r.exitCode.map(Int64.init))
            o.add("reason", r.reason)
            if let key = r.cacheKey { o.add("cacheKey", key) }
            if let from = r.cachedFrom { o.add("cachedFrom", from) }
        case .notice(let job, let level, let message):
            o.add("event", "notice")
            o.add("job", job)
            o.add("level", level.rawValue)
            o.add("message", message)
        case .runFinished(let run):
            o.add("event", "run-finished")
            o.add("run", run.runID)
            o.add("status", run.status.rawValue)
            o.add("durationMs", run.durationMs)
        }
        sink.write(o.text + "\n")
    }
}
