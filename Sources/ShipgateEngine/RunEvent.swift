import Foundation
import ShipgateJobCache
import ShipgateModel

/// What happened during a run, in order. Reporters turn these into terminal lines, JSON
/// events, JUnit; the engine never prints. Every text in an event is already masked.
public enum RunEvent: Sendable {
    case runStarted(runID: String, pipeline: String, jobs: [String], logDirectory: String)
    case jobStarted(job: String, attempt: Int)
    case stepStarted(job: String, step: String, index: Int, count: Int, attempt: Int)
    case output(job: String, line: String)
    case stepFinished(job: String, step: String, exitCode: Int32?, duration: TimeSpan)
    /// An attempt failed; `retryIn` is nil when no attempt is left.
    case attemptFailed(job: String, attempt: Int, reason: String, retryIn: TimeSpan?)
    case jobFinished(JobResult)
    case runFinished(RunResult)
    /// Something users should know that is not a job's output: cache decisions, warnings about
    /// the cache or the remote. `job` is nil for run-wide notices.
    case notice(job: String?, level: NoticeLevel, message: String)
}

public enum NoticeLevel: String, Sendable, Codable {
    case info
    case warning
}

/// Receives events. Called from many tasks: implementations must be thread-safe and quick,
/// since output lines are delivered synchronously (that is the back-pressure that keeps
/// memory bounded when a step prints a lot).
public protocol RunObserver: Sendable {
    func handle(_ event: RunEvent)
}

/// Fans one event stream out to several observers, in order.
public struct ObserverList: RunObserver {
    public var observers: [any RunObserver]
    public init(_ observers: [any RunObserver]) { self.observers = observers }
    public func handle(_ event: RunEvent) { for o in observers { o.handle(event) } }
}

public enum JobStatus: String, Sendable, Codable, Hashable {
    case success
    /// Not run: its outputs were restored from the cache.
    case cached
    case failed
    case skipped
    case cancelled
    /// Not started: its environment's gate did not let it (see `reason`).
    case blocked
}

public enum RunStatus: String, Sendable, Codable, Hashable {
    case running
    case success
    case failed
    case cancelled
    /// Every job that could run ran, but a gate blocked a deploy: approve, then `resume`.
    case blocked
    /// The process recording the run is gone (kill -9, power loss) before it finished.
    case interrupted
}

/// The outcome of one job. Stored in `run.json`; the JSON field names are documented.
public struct JobResult: Sendable, Codable, Hashable {
    public var id: String
    public var status: JobStatus
    public var attempts: Int
    public var durationMs: Int64
    public var exitCode: Int32?
    /// Why it failed, was skipped or cancelled; nil on success.
    public var reason: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Path of the job's log, relative to the run directory.
    public var log: String?
    public var outputs: [String: String]
    public var continueOnError: Bool
    /// The job's cache key, when it has `inputs`.
    public var cacheKey: String?
    /// For `cached` jobs: the run that produced the restored result.
    public var cachedFrom: String?
    /// SHA-256 of the job's artifact manifest, when it published artifacts.
    public var artifactsDigest: String?
    /// Set for a needed job that ran elsewhere (`--no-deps`) with no published result: it is
    /// assumed to have succeeded so its dependents run, but it never satisfies `requires`.
    public var unconfirmed: Bool?
    /// For `skipped` jobs: whether a rule of the plan skipped it or a need did not succeed
    /// (`resume` keeps the first and reruns the second). Nil in records written before it existed.
    public var skipCause: SkipCause?
    /// What the job's own test reports (`junit:`) counted; nil without `junit` or when it did
    /// not run.
    public var tests: TestSummary?

    public enum SkipCause: String, Sendable, Codable, Hashable {
        /// A `when` rule (or the plan) skipped it; not re-evaluated on resume.
        case rule
        /// A job it needs failed or did not succeed.
        case needs
    }

    public init(
        id: String, status: JobStatus, attempts: Int = 0, durationMs: Int64 = 0, exitCode: Int32? = nil, reason: String? = nil,
        startedAt: Date? = nil, finishedAt: Date? = nil, log: String? = nil, outputs: [String: String] = [:], continueOnError: Bool = false
    ) {
        self.id = id
        self.status = status
        self.attempts = attempts
        self.durationMs = durationMs
        self.exitCode = exitCode
        self.reason = reason
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.log = log
        self.outputs = outputs
        self.continueOnError = continueOnError
    }

    /// Whether jobs that need this one may run.
    public var satisfiesDependents: Bool { status == .success || status == .cached || (status == .failed && continueOnError) }
}

public struct RunResult: Sendable, Codable, Hashable {
    public var schemaVersion = 1
    public var runID: String
    public var pipeline: String
    public var pipelineFile: String
    public var pipelineDigest: String
    public var status: RunStatus
    public var startedAt: Date
    public var finishedAt: Date?
    public var durationMs: Int64
    /// Process id of the shipgate that ran it; lets a later start tell a crashed run from a live one.
    public var pid: Int32
    public var jobs: [JobResult]
    /// The run context: `${{ git.KEY }}` values (commit, branch, version, actor, …).
    public var git: [String: String]?
    /// True when only some jobs were selected (`--job`): such a run is never the base of
    /// `when: changes`.
    public var partial: Bool?
    /// True when the run was started with `--no-cache`: `resume` keeps it.
    public var noCache: Bool?
    /// A workflow's actions of other repositories as this run resolved them:
    /// `owner/repo[/path]@ref` → the commit it ran.
    public var actions: [String: String]?
    /// True when a write of this record (the run directory, the journal, `run.json`) failed:
    /// what is on disk may miss jobs. The exit status is then 4 if the jobs succeeded.
    public var recordIncomplete: Bool?

    public init(
        runID: String, pipeline: String, pipelineFile: String, pipelineDigest: String, status: RunStatus, startedAt: Date, finishedAt: Date?, durationMs: Int64,
        pid: Int32, jobs: [JobResult]
    ) {
        self.runID = runID
        self.pipeline = pipeline
        self.pipelineFile = pipelineFile
        self.pipelineDigest = pipelineDigest
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.durationMs = durationMs
        self.pid = pid
        self.jobs = jobs
    }
}

extension JobResult {
    /// One compact JSON object, decodable as `JobResult` (dates as ISO-8601 UTC with
    /// milliseconds; decode with `ISOTime.decoding`).
    /// Hand-written because it runs once per job on the hot path of large pipelines.
    public var jsonLine: String {
        var o = JSONObject()
        o.add("id", id)
        o.add("status", status.rawValue)
        o.add("attempts", attempts)
        o.add("durationMs", durationMs)
        o.add("exitCode", exitCode.map(Int64.init))
        o.add("reason", reason)
        o.add("startedAt", startedAt.map(ISOTime.string))
        o.add("finishedAt", finishedAt.map(ISOTime.string))
        o.add("log", log)
        var out = JSONObject()
        for (k, v) in outputs.sorted(by: { $0.key < $1.key }) { out.add(k, v) }
        o.add("outputs", raw: out.text)
        o.add("continueOnError", continueOnError)
        o.add("cacheKey", cacheKey)
        o.add("cachedFrom", cachedFrom)
        o.add("artifactsDigest", artifactsDigest)
        if let skipCause { o.add("skipCause", skipCause.rawValue) }
        if let tests {
            var t = JSONObject()
            t.add("tests", Int64(tests.tests))
            t.add("failures", Int64(tests.failures))
            t.add("errors", Int64(tests.errors))
            t.add("skipped", Int64(tests.skipped))
            t.add("files", raw: JSONObject.array(tests.files))
            t.add("failed", raw: JSONObject.array(tests.failed))
            t.add("unreadable", raw: JSONObject.array(tests.unreadable))
            o.add("tests", raw: t.text)
        }
        return o.text
    }
}

/// `2026-11-26T19:58:01.234Z`: ISO-8601 in UTC with milliseconds, how run records and the
/// journal write times (a timeline of sub-second jobs needs them). `decoding` reads it and the
/// whole-second form older records have.
public enum ISOTime {
    static func string(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        var out = ""
        out.reserveCapacity(20)
        func two(_ n: Int32) {
            out.unicodeScalars.append(Unicode.Scalar(UInt8(48 + n / 10)))
            out.unicodeScalars.append(Unicode.Scalar(UInt8(48 + n % 10)))
        }
        let year = parts.tm_year + 1900
        two(year / 100)
        two(year % 100)
        out += "-"
        two(parts.tm_mon + 1)
        out += "-"
        two(parts.tm_mday)
        out += "T"
        two(parts.tm_hour)
        out += ":"
        two(parts.tm_min)
        out += ":"
        two(parts.tm_sec)
        let frac = Int32(ms % 1000)
        out += "."
        out.unicodeScalars.append(Unicode.Scalar(UInt8(48 + frac / 100)))
        two(frac % 100)
        out += "Z"
        return out
    }

    /// Accepts `…:SSZ` and `…:SS.sssZ` (and other ISO-8601 forms with a zone).
    public static let decoding: JSONDecoder.DateDecodingStrategy = .custom { decoder in
        let text = try decoder.singleValueContainer().decode(String.self)
        if let d = UTCTime.parse(text) { return d }
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO-8601 time: \(text)"))
    }

}
extension JobResult: CacheFacts {}
