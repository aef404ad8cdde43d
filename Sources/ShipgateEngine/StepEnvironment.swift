import Foundation
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
/// `GITHUB_ENV` / `GITHUB_PATH`: each step gets both files empty; what it wrote is read when it
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

    /// Sets both variables. The files are not created: a step that writes creates them by
    /// appending (creating two files per step was the most expensive thing shipgate did for a
    /// trivial step), and `collect` removes them again, so every step starts with none.
    func prepare(_ env: inout [String: String]) {
        env["SHIPGATE_ENV"] = envFile
        env["SHIPGATE_PATH"] = pathFile
    }

    /// The file's text, and the file removed (the link itself, if the step made it one), so the
    /// next step starts without it. Most steps write nothing: one failed `lstat`.
    private static func take(_ path: String) -> String {
        var st = stat()
        guard lstat(path, &st) == 0 else { return "" }
        let text = st.st_mode & S_IFMT == S_IFREG && st.st_size > 0 ? (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" : ""
        unlink(path)
        return text
    }

    /// Reads what the step wrote; returns warnings (refused names, malformed lines).
    mutating func collect(protected: Set<String>) -> [String] {
        var warnings: [String] = []
        let text = Self.take(envFile)
        let (values, problems) = OutputsFile.parse(text, noun: "variable", isKey: Self.isName)
        warnings += problems.map { "$SHIPGATE_ENV \($0)" }
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            if name.hasPrefix("SHIPGATE_") || protected.contains(name) {
                warnings.append("$SHIPGATE_ENV: `\(name)` is set by shipgate or is a secret; not overridden")
                continue
            }
            variables[name] = value
        }
        let lines = Self.take(pathFile).split(whereSeparator: \.isNewline)
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
