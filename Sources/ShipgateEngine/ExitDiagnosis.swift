/// Why a step's command could not run, read from what its shell printed, so exit codes 127
/// and 126 are explained: `command not found: black`, `not executable: ./deploy.sh
/// (Permission denied)`.
///
/// Pure. Knows the messages of dash (`sh: 1: black: not found`), bash
/// (`bash: line 1: black: command not found`), zsh and `env`. Lines are looked at cheaply
/// first (they must start with a shell's or `env`'s name), so every output line can be fed.
public enum ExitDiagnosis {
    public struct Finding: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case notFound
            case notExecutable(String)
        }
        public var kind: Kind
        public var command: String

        public init(kind: Kind, command: String) {
            self.kind = kind
            self.command = command
        }
    }

    /// What `line` says, if it is a shell's "cannot run this" message.
    public static func parse(_ line: String) -> Finding? {
        // Cheap first: a shell's name is short, so only the first bytes are searched for the colon
        // (a 10 kB line of output costs no scan of its characters).
        guard let colon = line.utf8.prefix(128).firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let program = String(decoding: line.utf8[..<colon], as: UTF8.self).split(separator: "/").last ?? ""
        guard ["sh", "dash", "bash", "zsh", "env"].contains(program) else { return nil }
        var rest = Substring(line[line.index(after: colon)...].drop { $0 == " " })
        // Where: `1: ` (dash), `line 1: ` (bash), `exec: ` (dash's exec).
        for prefix in ["line "] where rest.hasPrefix(prefix) { rest = rest.dropFirst(prefix.count) }
        if let c = rest.firstIndex(of: ":"), !rest[..<c].isEmpty, rest[..<c].allSatisfy(\.isNumber) {
            rest = rest[rest.index(after: c)...].drop { $0 == " " }
        }
        if rest.hasPrefix("exec: ") { rest = rest.dropFirst(6) }
        if program == "zsh", rest.hasPrefix("command not found: ") {
            return Finding(kind: .notFound, command: String(rest.dropFirst(19)))
        }
        for suffix in [": not found", ": command not found", ": No such file or directory"] where rest.hasSuffix(suffix) {
            let command = rest.dropLast(suffix.count)
            guard !command.isEmpty else { return nil }
            return Finding(kind: .notFound, command: unquoted(command))
        }
        for (suffix, why) in [
            (": cannot execute binary file: Exec format error", "Exec format error"), (": Exec format error", "Exec format error"),
            (": Permission denied", "Permission denied"), (": Is a directory", "Is a directory"),
        ] where rest.hasSuffix(suffix) {
            let command = rest.dropLast(suffix.count)
            guard !command.isEmpty else { return nil }
            return Finding(kind: .notExecutable(why), command: unquoted(command))
        }
        return nil
    }

    /// The explanation of exit `code` given the last finding of the step, or nil.
    public static func explain(code: Int32, _ finding: Finding?) -> String? {
        guard let finding else { return nil }
        switch (code, finding.kind) {
        case (127, .notFound): return "command not found: \(finding.command)"
        case (126, .notExecutable(let why)): return "not executable: \(finding.command) (\(why))"
        default: return nil
        }
    }

    /// `env` quotes the name: `‘black’` or `'black'`.
    private static func unquoted(_ s: Substring) -> String {
        let quotes: Set<Character> = ["'", "‘", "’", "\""]
        if s.count >= 2, let f = s.first, let l = s.last, quotes.contains(f), quotes.contains(l) { return String(s.dropFirst().dropLast()) }
        return String(s)
    }
}
