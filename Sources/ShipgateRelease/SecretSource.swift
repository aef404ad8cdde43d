import Foundation
import ShipgateModel

/// Secret values for a run: names from the pipeline's `secrets:` and `--secret`, values from
/// the environment or a `.env`-style `--secrets-file` (the file wins). Never logged.
public enum SecretSource {
    public struct Missing: Error {
        public var names: [String]
    }

    public struct FileProblem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `NAME=value` lines; `#` comments, blank lines, optional `export `, and values in
    /// single or double quotes. A malformed line is an error naming its line number only
    /// (never its content, which may be a secret).
    public static func parseFile(_ path: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw FileProblem(description: "cannot read secrets file \(path)")
        }
        var values: [String: String] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = line.firstIndex(of: "=") else {
                throw FileProblem(description: "\(path):\(n + 1): expected NAME=value")
            }
            let name = String(line[..<eq]).trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: eq)...])
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
                if q == "\"" { value = value.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\"", with: "\"") }
            }
            guard !name.isEmpty, name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }), !(name.first!.isNumber) else {
                throw FileProblem(description: "\(path):\(n + 1): invalid variable name")
            }
            values[name] = value
        }
        return values
    }

    /// Resolves every required name; throws `Missing` naming all that have no value.
    public static func resolve(required: [String], environment: [String: String], file: [String: String]) throws -> [String: String] {
        var values: [String: String] = [:]
        var missing: [String] = []
        for name in required {
            if let v = file[name] ?? environment[name] { values[name] = v } else { missing.append(name) }
        }
        if !missing.isEmpty { throw Missing(names: missing) }
        // Every value of the secrets file is secret, named in the pipeline or not.
        for (k, v) in file { values[k] = v }
        return values
    }
}
