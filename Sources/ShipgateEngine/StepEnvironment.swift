import Foundation
import ShipgateJobCache
import ShipgateModel
import ShipgatePlanning

extension JobExecutor {
    /// What `$NAME` and `${NAME}` in `env` values expand from: the run's base environment
    /// (`RunOptions.baseEnvironment`), without the run's secrets, so no secret value enters a
    /// cache key or a file shipgate writes.
    var variableEnvironment: [String: String] {
        options.secrets.isEmpty ? options.baseEnvironment : options.baseEnvironment.filter { options.secrets[$0.key] == nil }
    }
}

/// `$SHIPGATE_ENV` and `$SHIPGATE_PATH` of one job attempt, in the manner of GitHub's
/// `GITHUB_ENV` / `GITHUB_PATH`: each step starts without both files (it creates them by
/// appending: `echo NAME=value >> "$SHIPGATE_ENV"`); what it wrote is read when it
/// ends and applies to the later steps of the same attempt.
///
/// - `$SHIPGATE_ENV`: `NAME=value` lines and `NAME<<DELIM` … `DELIM` blocks. Later values win;
///   they override `env` but not what shipgate sets. Names of secrets, of variables shipgate
///   provides to the job and `SHIPGATE_*` are refused with a warning.
/// - `$SHIPGATE_PATH`: one directory per line, prepended to `PATH` (the last one written first).
///
/// Files: `<run>/outputs/<job>.env` and `<job>.path`, next to the job's `$SHIPGATE_OUTPUT`.
/// Not thread-safe: one value per attempt, used by the attempt's task only.
struct StepFiles {
    let envFile: String
    let pathFile: String
    private(set) var variables: [String: String] = [:]
    /// Directories to prepend, first = first on `PATH`.
    private(set) var path: [String] = []

    init(outputsPath: String) {
        envFile = outputsPath + ".env"
        pathFile = outputsPath + ".path"
    }

    /// Applies what earlier steps wrote to a step's environment; `basePath` is the `PATH` the
    /// step has otherwise (its `env`, else the run's base environment).
    func apply(to env: inout [String: String], basePath: String?) {
        for (name, value) in variables { env[name] = value }
        guard !path.isEmpty else { return }
        let rest = env["PATH"] ?? basePath ?? ""
        env["PATH"] = (path + (rest.isEmpty ? [] : [rest])).joined(separator: ":")
    }

    /// Sets both variables and removes both files, so the step starts without them, whatever
    /// was left at those paths (by an earlier attempt, or planted by another job's step). They
    /// are not created: a step that writes creates them by appending (creating two files per
    /// step was the most expensive thing shipgate did for a trivial step); `unlink` of a missing
    /// file is one failed system call.
    func prepare(_ env: inout [String: String]) {
        env["SHIPGATE_ENV"] = envFile
        env["SHIPGATE_PATH"] = pathFile
        unlink(envFile)
        unlink(pathFile)
    }

    /// Most a step may write to either file.
    static let sizeLimit = 1 << 20

    /// What the step wrote to `path`, and the file gone. The file is first renamed to a name of
    /// shipgate's own (so a process the step left running cannot swap it after the checks, and
    /// what it appends later goes to a new file the next `prepare` removes), then opened without
    /// following links and without blocking (a FIFO or a link yields nothing), and read only
    /// when it is a regular file, up to `sizeLimit`. Nil when there was nothing; a warning when
    /// it was refused.
    static func take(_ path: String) -> (text: String, warning: String?) {
        let taken = path + ".collected"
        guard rename(path, taken) == 0 else { return ("", nil) }
        defer { unlink(taken) }
        let fd = open(taken, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return ("", "is not a regular file; ignored") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return ("", "is not a regular file; ignored") }
        guard st.st_size <= sizeLimit else { return ("", "is larger than \(sizeLimit >> 20) MiB; ignored") }
        guard st.st_size > 0 else { return ("", nil) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return (String(decoding: bytes.prefix(max(0, n)), as: UTF8.self), nil)
    }

    /// Reads what the step wrote; returns warnings (refused names, malformed lines).
    mutating func collect(protected: Set<String>) -> [String] {
        var warnings: [String] = []
        let (text, envWarning) = Self.take(envFile)
        if let envWarning { warnings.append("$SHIPGATE_ENV \(envWarning)") }
        let (values, problems) = OutputsFile.parse(text, noun: "variable", isKey: Self.isName)
        warnings += problems.map { "$SHIPGATE_ENV \($0)" }
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            if name.hasPrefix("SHIPGATE_") || protected.contains(name) {
                warnings.append("$SHIPGATE_ENV: `\(name)` is set by shipgate or is a secret; not overridden")
                continue
            }
            variables[name] = value
        }
        let (pathText, pathWarning) = Self.take(pathFile)
        if let pathWarning { warnings.append("$SHIPGATE_PATH \(pathWarning)") }
        let lines = pathText.split(whereSeparator: \.isNewline)
        for line in lines {
            let dir = line.trimmingCharacters(in: .whitespaces)
            if dir.isEmpty { continue }
            path.removeAll { $0 == dir }
            path.insert(dir, at: 0)
        }
        return warnings
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return s.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}

extension JobExecutor {
    /// The job's `env` (pipeline and job level) resolved now, for its `cache-key-extra` commands:
    /// matrix values, `$VAR`, needs outputs and `hashFiles`, as in its steps.
    func commandEnvironment(_ job: PlannedJob, needed: [String: JobResult]) throws -> [String: String] {
        let outputs = needed.mapValues(\.outputs)
        let variables = variableEnvironment
        return Dictionary(
            try job.env.map { ($0.name, try CacheContext.resolve($0.value.expandingVariables(variables), outputs: outputs, cache: cache)) },
            uniquingKeysWith: { _, b in b })
    }
}
