import Foundation
import ShipgateModel
import ShipgateProcess

/// The on-disk home of one run: `<state>/runs/<run-id>/` holding `run.json`, `jobs.jsonl`,
/// one `<job>.log` per job and `outputs/<job>` (the `$SHIPGATE_OUTPUT` files).
///
/// Durability contract: `run.json` is written atomically (temp file + rename) when the run
/// starts and when it ends; in between, each finished job is appended to `jobs.jsonl` as one
/// line with a single `write(2)`. `read` merges the two, so whatever moment shipgate is killed
/// at, the record holds every job that finished (a torn last line is ignored), and a run whose
/// process is gone reads as `interrupted`. Appending keeps the cost per job constant.
public struct RunDirectory: Sendable {
    public let root: String
    public let runID: String
    /// File names of this run's jobs, unique even where `fileName(for:)` maps two ids alike.
    public private(set) var names: [String: String] = [:]

    public init(stateDirectory: String, runID: String) {
        self.runID = runID
        self.root = (stateDirectory as NSString).appendingPathComponent("runs/\(runID)")
    }

    /// Creates the run directory if, and only if, no run has it: false when the id is taken.
    public func claim() throws -> Bool {
        try FileManager.default.createDirectory(atPath: (root as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if mkdir(root, 0o755) != 0 {
            if errno == EEXIST { return false }
            let reason = String(cString: strerror(errno))
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: root, NSLocalizedDescriptionKey: reason])
        }
        return true
    }

    public func create() throws {
        try FileManager.default.createDirectory(atPath: root + "/outputs", withIntermediateDirectories: true)
    }

    public func logPath(for job: String) -> String { root + "/" + name(job) + ".log" }
    public func outputsPath(for job: String) -> String { root + "/outputs/" + name(job) }
    /// The cases of the job's `junit` reports, as JSON (`[TestCase]`).
    public func testsPath(for job: String) -> String { root + "/tests/" + name(job) + ".json" }

    private func name(_ job: String) -> String { names[job] ?? Self.fileName(for: job) }

    /// Gives each job a distinct file name, in the given order: the readable `fileName(for:)`,
    /// with `-2`, `-3`, … added where two ids would otherwise share a name.
    public mutating func assignNames(_ jobs: [String]) {
        var used = Set<String>()
        for job in jobs {
            let base = Self.fileName(for: job)
            var candidate = base
            var n = 2
            while used.contains(candidate.lowercased()) {
                candidate = "\(base)-\(n)"
                n += 1
            }
            used.insert(candidate.lowercased())
            names[job] = candidate
        }
    }
    public var recordPath: String { root + "/run.json" }
    public var journalPath: String { root + "/jobs.jsonl" }

    /// A file name for a job id: `unit (python=3.11)` → `unit-python=3.11`.
    public static func fileName(for job: String) -> String {
        var name = job.replacingOccurrences(of: " (", with: "-").replacingOccurrences(of: ", ", with: "-")
        if name.hasSuffix(")") { name.removeLast() }
        return String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._=-+".contains($0)) ? $0 : "_" })
    }

    /// Writes `run.json` atomically. Hand-encoded (the jobs as `JobResult.jsonLine`), since a
    /// large pipeline writes it with thousands of jobs; `read` decodes it with `JSONDecoder`.
    public func write(_ record: RunResult) throws {
        var o = JSONObject()
        o.add("schemaVersion", record.schemaVersion)
        o.add("runID", record.runID)
        o.add("pipeline", record.pipeline)
        o.add("pipelineFile", record.pipelineFile)
        o.add("pipelineDigest", record.pipelineDigest)
        o.add("status", record.status.rawValue)
        o.add("startedAt", ISOTime.string(record.startedAt))
        o.add("finishedAt", record.finishedAt.map(ISOTime.string))
        o.add("durationMs", record.durationMs)
        o.add("pid", Int(record.pid))
        if record.partial == true { o.add("partial", true) }
        if record.recordIncomplete == true { o.add("recordIncomplete", true) }
        if record.noCache == true { o.add("noCache", true) }
        if let git = record.git {
            var g = JSONObject()
            for (k, v) in git.sorted(by: { $0.key < $1.key }) { g.add(k, v) }
            o.add("git", raw: g.text)
        }
        if let actions = record.actions, !actions.isEmpty {
            var a = JSONObject()
            for (k, v) in actions.sorted(by: { $0.key < $1.key }) { a.add(k, v) }
            o.add("actions", raw: a.text)
        }
        let jobs = record.jobs.map(\.jsonLine).joined(separator: ",\n    ")
        let body = o.text.dropFirst().dropLast()  // the fields without their braces
        let data = Data("{\n  \(body),\n  \"jobs\": [\n    \(jobs)\n  ]\n}\n".utf8)
        let temp = recordPath + ".tmp-\(getpid())"
        try data.write(to: URL(fileURLWithPath: temp))
        if rename(temp, recordPath) != 0 {
            unlink(temp)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: recordPath])
        }
    }

    /// Reads a run record (`run.json` or its directory), merging jobs journaled after the last
    /// snapshot. A run still marked `running` whose process is gone is reported `interrupted`.
    public static func read(_ path: String) throws -> RunResult {
        let recordPath = path.hasSuffix(".json") ? path : path + "/run.json"
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISOTime.decoding
        var record = try decoder.decode(RunResult.self, from: Data(contentsOf: URL(fileURLWithPath: recordPath)))
        guard record.status == .running else { return record }
        let journal = (recordPath as NSString).deletingLastPathComponent + "/jobs.jsonl"
        if let data = FileManager.default.contents(atPath: journal) {
            // Later lines are newer (a resumed run journals a job again): the last one wins.
            var index = Dictionary(record.jobs.enumerated().map { ($0.element.id, $0.offset) }, uniquingKeysWith: { a, _ in a })
            for line in data.split(separator: 10) {
                guard let job = try? decoder.decode(JobResult.self, from: Data(line)) else { continue }
                if let i = index[job.id] {
                    record.jobs[i] = job
                } else {
                    index[job.id] = record.jobs.count
                    record.jobs.append(job)
                }
            }
        }
        if kill(record.pid, 0) != 0 && errno == ESRCH { record.status = .interrupted }
        return record
    }

    /// What retention and listings need of a run, without decoding its jobs (a run of 1000
    /// jobs is a 1000-element array; pruning looks at up to 50 such runs after every run).
    public struct Summary: Decodable, Sendable {
        public var status: RunStatus
        public var startedAt: Date
        public var pid: Int32
        public var git: [String: String]?
        public var partial: Bool?
    }

    /// The record's summary; a `running` run whose shipgate is gone reads as `interrupted`.
    public static func readSummary(_ path: String) throws -> Summary {
        let recordPath = path.hasSuffix(".json") ? path : path + "/run.json"
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISOTime.decoding
        var summary = try decoder.decode(Summary.self, from: head(ofRecord: recordPath))
        if summary.status == .running && kill(summary.pid, 0) != 0 && errno == ESRCH { summary.status = .interrupted }
        return summary
    }

    /// The record's fields before its jobs, as a JSON object: `write` puts every field first and
    /// `"jobs"` last, so the summary is in the first few KiB whatever the number of jobs. A
    /// record in any other shape is returned whole.
    static func head(ofRecord path: String) throws -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { return try Data(contentsOf: URL(fileURLWithPath: path)) }
        defer { try? handle.close() }
        let start = (try handle.read(upToCount: 16 << 10)) ?? Data()
        let marker = Data(",\n  \"jobs\": [".utf8)
        if let cut = start.range(of: marker) { return start[..<cut.lowerBound] + Data("}".utf8) }
        return start + ((try handle.readToEnd()) ?? Data())
    }

    /// A new run id: UTC start time to the millisecond plus 6 random hex digits
    /// (`20261126-195801-123a1b2c3`), so ids sort by start time even within one second. Ids can
    /// still collide in principle: `claim()` makes the run directory exclusively.
    public static func newRunID(now: Date = Date()) -> String {
        // By hand, not with a DateFormatter: a formatter maps ICU's data (6 MB of every run's RSS).
        let ms = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        func digits(_ n: Int32, _ width: Int) -> String {
            let text = String(n)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let stamp =
            digits(parts.tm_year + 1900, 4) + digits(parts.tm_mon + 1, 2) + digits(parts.tm_mday, 2) + "-" + digits(parts.tm_hour, 2)
            + digits(parts.tm_min, 2) + digits(parts.tm_sec, 2) + "-" + digits(Int32(ms % 1000), 3)
        let random = String(UInt32.random(in: 0..<0x100_0000), radix: 16)
        return stamp + String(repeating: "0", count: 6 - random.count) + random
    }
}

/// A file of lines, appended with one `write(2)` each and kept open. Thread-safe; failures
/// are counted, never thrown.
public final class AppendOnlyFile: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var fd: Int32 = -1
    public private(set) var failures = 0
    /// Why the last failed append failed, in words.
    public var lastError: String? { lock.withLock { lastFailure } }
    private var lastFailure: String?

    public init(path: String) { self.path = path }
    deinit { if fd >= 0 { close(fd) } }

    @discardableResult
    public func append(_ line: String) -> Bool {
        var bytes = Array(line.utf8)
        bytes.append(10)
        lock.lock()
        defer { lock.unlock() }
        if fd < 0 { fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644) }
        if fd < 0 {
            failures += 1
            lastFailure = String(cString: strerror(errno))
            return false
        }
        let written = bytes.withUnsafeBytes { Posix.write(fd, $0) }
        guard written == bytes.count else {
            failures += 1
            lastFailure = written < 0 ? String(cString: strerror(errno)) : "only \(written) of \(bytes.count) bytes written (disk full?)"
            return false
        }
        return true
    }
}

/// The append-only list of finished jobs of one run (`jobs.jsonl`), kept open for the run.
/// Each `append` is one `write(2)` of one line, so a crash can at worst tear the last line,
/// which `RunDirectory.read` ignores. Thread-safe.
public final class RunJournal: Sendable {
    private let file: AppendOnlyFile

    public init(path: String) { file = AppendOnlyFile(path: path) }

    /// False when the line could not be written (the caller warns; the run goes on).
    @discardableResult
    public func append(_ job: JobResult) -> Bool { file.append(job.jsonLine) }

    public var lastError: String? { file.lastError }
}
