import ShipgateModel

/// GitHub's workflow commands in a step's output (`::error file=a.py,line=3::message`), as the
/// runner reads them: one per line, the command name, optional `key=value` properties separated
/// by commas, and the data after the second `::`. Data unescapes `%25` `%0D` `%0A`; properties
/// also `%3A` and `%2C`.
///
/// Contract of `WorkflowCommandState.consume`: `::add-mask::` masks the value in every later line
/// (the command line itself is not shown); `::stop-commands::TOKEN` stops processing until a line
/// `::TOKEN::`; `::debug::` lines are shown only when `debug`; `::set-output` and `::save-state`
/// still work (with the deprecation warning GitHub prints); `::set-env` and `::add-path` are
/// refused, as GitHub refuses them. Other lines pass through unchanged.
struct WorkflowCommand: Equatable {
    var name: String
    var properties: [String: String]
    var data: String

    /// Parses a line that is a workflow command, or nil.
    static func parse(_ line: Substring) -> WorkflowCommand? {
        var text = line
        while let c = text.first, c == " " || c == "\t" { text = text.dropFirst() }
        guard text.hasPrefix("::") else { return nil }
        let rest = text.dropFirst(2)
        guard let end = rest.firstRange(of: "::") else { return nil }
        let head = rest[..<end.lowerBound]
        let data = rest[end.upperBound...]
        let nameEnd = head.firstIndex(of: " ") ?? head.endIndex
        let name = String(head[..<nameEnd])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        var properties: [String: String] = [:]
        if nameEnd != head.endIndex {
            for pair in head[head.index(after: nameEnd)...].split(separator: ",") {
                guard let eq = pair.firstIndex(of: "=") else { continue }
                let key = pair[..<eq].trimmingSpaces
                properties[String(key)] = unescape(pair[pair.index(after: eq)...], property: true)
            }
        }
        var value = unescape(data, property: false)
        if value.hasSuffix("\r") { value.removeLast() }
        return WorkflowCommand(name: name, properties: properties, data: value)
    }

    static func unescape(_ s: Substring, property: Bool) -> String {
        guard s.utf8.contains(37) else { return String(s) }  // `%`
        var out = String(s)
        let table = property ? [("%3A", ":"), ("%2C", ","), ("%0D", "\r"), ("%0A", "\n"), ("%25", "%")] : [("%0D", "\r"), ("%0A", "\n"), ("%25", "%")]
        for (from, to) in table { out = out.replacing(from, with: to) }
        return out
    }
}

/// What a step's workflow commands did, and how each line is shown. One per step; lines arrive
/// in order from the step's supervisor, under the caller's lock.
struct WorkflowCommandState {
    enum Shown: Equatable {
        case line(String)
        case hidden
        case annotation(level: String, text: String)
    }

    var debug = false
    private(set) var stopToken: String?
    private(set) var masks: [String] = []
    private(set) var outputs: [String: String] = [:]
    private(set) var state: [String: String] = [:]
    private(set) var warnings: [String] = []

    mutating func consume(_ line: String) -> Shown {
        let sub = Substring(line)
        if let token = stopToken {
            if let c = WorkflowCommand.parse(sub), c.name == token {
                stopToken = nil
                return .hidden
            }
            return .line(line)
        }
        guard let command = WorkflowCommand.parse(sub) else { return .line(line) }
        switch command.name {
        case "add-mask":
            let value = command.data.trimmingSpaces
            if !value.isEmpty { masks.append(String(value)) }
            return .hidden
        case "stop-commands":
            stopToken = command.data.isEmpty ? nil : command.data
            return .hidden
        case "debug":
            return debug ? .line("##[debug]" + command.data) : .hidden
        case "error", "warning", "notice":
            return .annotation(level: command.name, text: Self.annotation(command))
        case "group":
            return .line("▸ " + command.data)
        case "endgroup", "echo":
            return .hidden
        case "set-output":
            if let name = command.properties["name"] { outputs[name] = command.data }
            warnings.append("the `set-output` command is deprecated; write `name=value` to $GITHUB_OUTPUT")
            return .hidden
        case "save-state":
            if let name = command.properties["name"] { state[name] = command.data }
            return .hidden
        case "set-env", "add-path":
            warnings.append("the `\(command.name)` command is disabled (as on GitHub); use $GITHUB_ENV or $GITHUB_PATH")
            return .hidden
        default:
            return .line(line)
        }
    }

    /// `file:line:col: message (title)` as the log and the summary show an annotation.
    static func annotation(_ c: WorkflowCommand) -> String {
        var location = c.properties["file"] ?? ""
        if let line = c.properties["line"] { location += ":" + line }
        if let col = c.properties["col"] { location += ":" + col }
        let title = c.properties["title"].map { "\($0): " } ?? ""
        return (location.isEmpty ? "" : location + ": ") + title + c.data
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return s
    }
}

extension String {
    var trimmingSpaces: Substring { Substring(self).trimmingSpaces }
}
