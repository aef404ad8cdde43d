import Foundation

/// The on-disk home of one run: `<state>/runs/<run-id>/` holding `run.json`, one
/// `<job>.log` per job and `outputs/<job>` (the `$SHIPGATE_OUTPUT` files).
///
/// `run.json` is rewritten atomically (temp file + rename) after every job, so it is
/// always a complete document, whatever moment shipgate is killed at.
public struct RunDirectory: Sendable {
    public let root: String
    public let runID: String

    public init(stateDirectory: String, runID: String) {
        self.runID = runID
        self.root = (stateDirectory as NSString).appendingPathComponent("runs/\(runID)")
    }

    public func create() throws {
        try FileManager.default.createDirectory(atPath: root + "/outputs", withIntermediateDirectories: true)
    }

    public func logPath(for job: String) -> String { root + "/" + Self.fileName(for: job) + ".log" }
    public func outputsPath(for job: String) -> String { root + "/outputs/" + Self.fileName(for: job) }
    public var recordPath: String { root + "/run.json" }

    /// A file name for a job id: `unit (python=3.11)` → `unit-python=3.11`.
    public static func fileName(for job: String) -> String {
        var name = job.replacingOccurrences(of: " (", with: "-").replacingOccurrences(of: ", ", with: "-")
        if name.hasSuffix(")") { name.removeLast() }
        return String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._=-+".contains($0)) ? $0 : "_" })
    }

    public func write(_ record: RunResult) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(record)
        let temp = recordPath + ".tmp-\(getpid())"
        try data.write(to: URL(fileURLWithPath: temp))
        if rename(temp, recordPath) != 0 {
            unlink(temp)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: recordPath])
        }
    }

    public static func read(_ path: String) throws -> RunResult {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(RunResult.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A new run id: UTC time to the second plus 6 random hex digits (`20261126-195801-a1b2c3`),
    /// so ids sort by start time and two runs started in the same second never collide.
    public static func newRunID(now: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: now) + "-" + String(format: "%06x", UInt32.random(in: 0..<0xFF_FFFF))
    }
}
