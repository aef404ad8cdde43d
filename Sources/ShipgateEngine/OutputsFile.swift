/// Parses the file steps write job outputs to (`$SHIPGATE_OUTPUT`), in GitHub's format:
/// `key=value` lines, and `key<<DELIM` … `DELIM` for multi-line values. Later keys win.
/// Lines that match neither form are returned as problems, not thrown. `$SHIPGATE_ENV` uses the
/// same format, with environment variable names (`noun` and `isKey` say which).
public enum OutputsFile {
    public static func parse(_ text: String) -> (outputs: [String: String], problems: [String]) {
        parse(text, noun: "output", isKey: isKey)
    }

    static func parse(_ text: String, noun: String, isKey: (String) -> Bool) -> (outputs: [String: String], problems: [String]) {
        var outputs: [String: String] = [:]
        var problems: [String] = []
        // `\r\n` is one Character in Swift: split on both, or a CRLF file would be one line.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })[...]
        var lineNumber = 0
        while let raw = lines.popFirst() {
            lineNumber += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.trimmingCharacters().isEmpty { continue }
            if let marker = line.range(of: "<<"), !line[..<marker.lowerBound].contains("=") {
                let key = String(line[..<marker.lowerBound])
                let delimiter = String(line[marker.upperBound...])
                var value: [Substring] = []
                var closed = false
                while let next = lines.popFirst() {
                    lineNumber += 1
                    let l = next.hasSuffix("\r") ? next.dropLast() : next
                    if l == delimiter {
                        closed = true
                        break
                    }
                    value.append(l)
                }
                if !closed || delimiter.isEmpty { problems.append("line \(lineNumber): `\(key)<<\(delimiter)` has no closing `\(delimiter)`") }
                if isKey(key) { outputs[key] = value.joined(separator: "\n") } else { problems.append("invalid \(noun) name `\(key)`") }
            } else if let eq = line.firstIndex(of: "=") {
                let key = String(line[..<eq])
                if isKey(key) { outputs[key] = String(line[line.index(after: eq)...]) } else { problems.append("invalid \(noun) name `\(key)`") }
            } else {
                problems.append("line \(lineNumber): expected `key=value` or `key<<DELIMITER`, got `\(line.prefix(80))`")
            }
        }
        return (outputs, problems)
    }

    static func isKey(_ s: String) -> Bool {
        guard let first = s.first, first.isLetter || first == "_" else { return false }
        return s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
    fileprivate func range(of needle: String) -> Range<Substring.Index>? { self.firstRange(of: needle) }
}
