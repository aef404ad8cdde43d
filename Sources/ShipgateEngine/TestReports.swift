import Foundation

/// What a job's own test tools reported (`junit: [PATTERN]`, e.g. pytest's `--junitxml`):
/// counts, and the first failures, kept in the job's result. The cases themselves are in the
/// run directory's `tests/<job>.json` (see `TestCase`).
public struct TestSummary: Sendable, Codable, Hashable {
    public var tests = 0
    public var failures = 0
    public var errors = 0
    public var skipped = 0
    /// The report files read, workspace-relative.
    public var files: [String] = []
    /// At most `TestSummary.shownFailures` failed cases, `classname.name: message`.
    public var failed: [String] = []
    /// Files that matched but could not be read as JUnit XML, with why.
    public var unreadable: [String] = []

    public static let shownFailures = 10
    public var passed: Int { tests - failures - errors - skipped }

    public init() {}

    /// `120 passed, 2 failed, 1 error, 3 skipped`.
    public var text: String {
        var parts = ["\(passed) passed"]
        if failures > 0 { parts.append("\(failures) failed") }
        if errors > 0 { parts.append("\(errors) error\(errors == 1 ? "" : "s")") }
        if skipped > 0 { parts.append("\(skipped) skipped") }
        return parts.joined(separator: ", ")
    }
}

/// One `<testcase>` of a tool's report.
public struct TestCase: Sendable, Codable, Hashable {
    public enum Outcome: String, Sendable, Codable, Hashable { case passed, failed, error, skipped }
    public var suite: String
    public var classname: String
    public var name: String
    public var time: Double?
    public var outcome: Outcome
    /// The `message` of `<failure>`, `<error>` or `<skipped>`, or the start of its text.
    public var message: String?
}

/// Reads JUnit XML as the tools write it (pytest, JUnit/Surefire, go-junit-report, jest-junit):
/// `<testsuites>` or a lone `<testsuite>`, `<testcase>` with `<failure>`, `<error>` or `<skipped>`.
/// A small scanner, not a full XML parser: tags, attributes (both quotes), entities, comments,
/// CDATA and processing instructions are understood; a DTD is skipped; what is not a tag is text.
public enum JUnitReader {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public static func read(_ text: String) throws(Invalid) -> [TestCase] {
        var cases: [TestCase] = []
        var suites: [String] = []
        var current: TestCase?
        var inOutcome = false
        var outcomeText = ""
        var sawRoot = false
        var scanner = Scanner(Array(text.utf8))
        while let token = try scanner.next() {
            switch token {
            case .text(let t):
                if inOutcome { outcomeText += t }
            case .open(let name, let attributes, let selfClosing):
                switch name {
                case "testsuites":
                    sawRoot = true
                case "testsuite":
                    sawRoot = true
                    if !selfClosing { suites.append(attributes["name"] ?? "") }
                case "testcase":
                    sawRoot = true
                    let test = TestCase(
                        suite: suites.last ?? "", classname: attributes["classname"] ?? attributes["class"] ?? "",
                        name: attributes["name"] ?? "", time: attributes["time"].flatMap(Double.init), outcome: .passed, message: nil)
                    if selfClosing { cases.append(test) } else { current = test }
                case "failure", "error", "skipped":
                    guard current != nil else { continue }
                    // The first outcome counts (pytest may add `<error>` for a failing teardown).
                    if current!.outcome == .passed {
                        current!.outcome = name == "failure" ? .failed : name == "error" ? .error : .skipped
                        current!.message = attributes["message"].map { String($0.prefix(500)) }
                    }
                    if !selfClosing {
                        inOutcome = true
                        outcomeText = ""
                    }
                default: break
                }
            case .close(let name):
                switch name {
                case "testsuite": _ = suites.popLast()
                case "testcase":
                    if let c = current { cases.append(c) }
                    current = nil
                case "failure", "error", "skipped":
                    inOutcome = false
                    if current != nil, current!.message?.isEmpty ?? true {
                        let first = outcomeText.split(separator: "\n").first.map(String.init)?.trimmingCharacters(in: .whitespaces)
                        current!.message = first.map { String($0.prefix(500)) }
                    }
                default: break
                }
            }
        }
        guard sawRoot else { throw Invalid(description: "no <testsuite>, <testsuites> or <testcase> element") }
        return cases
    }

    public static func summarize(_ cases: [TestCase], files: [String]) -> TestSummary {
        var s = TestSummary()
        s.files = files
        s.tests = cases.count
        for c in cases {
            switch c.outcome {
            case .passed: break
            case .failed: s.failures += 1
            case .error: s.errors += 1
            case .skipped: s.skipped += 1
            }
            if c.outcome == .failed || c.outcome == .error, s.failed.count < TestSummary.shownFailures {
                let id = c.classname.isEmpty ? c.name : c.classname + "." + c.name
                s.failed.append(id + (c.message.map { ": " + $0 } ?? ""))
            }
        }
        return s
    }

    enum Token {
        case open(String, [String: String], selfClosing: Bool)
        case close(String)
        case text(String)
    }

    struct Scanner {
        let bytes: [UInt8]
        var i = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func next() throws(Invalid) -> Token? {
            guard i < bytes.count else { return nil }
            if bytes[i] != UInt8(ascii: "<") {
                let start = i
                while i < bytes.count && bytes[i] != UInt8(ascii: "<") { i += 1 }
                return .text(JUnitReader.decode(bytes[start..<i]))
            }
            if starts("<!--") { return try skip(past: "-->") }
            if starts("<![CDATA[") {
                let start = i + 9
                guard let end = find("]]>", from: start) else { throw Invalid(description: "unterminated CDATA section") }
                i = end + 3
                return .text(String(decoding: bytes[start..<end], as: UTF8.self))
            }
            if starts("<?") { return try skip(past: "?>") }
            if starts("<!") { return try skip(past: ">") }
            i += 1
            let closing = i < bytes.count && bytes[i] == UInt8(ascii: "/")
            if closing { i += 1 }
            let name = word()
            guard !name.isEmpty else { throw Invalid(description: "a `<` that starts no tag at byte \(i)") }
            var attributes: [String: String] = [:]
            while true {
                spaces()
                guard i < bytes.count else { throw Invalid(description: "unterminated <\(name)> tag") }
                if bytes[i] == UInt8(ascii: ">") {
                    i += 1
                    return closing ? .close(name) : .open(name, attributes, selfClosing: false)
                }
                if starts("/>") {
                    i += 2
                    return .open(name, attributes, selfClosing: true)
                }
                let key = word()
                guard !key.isEmpty else { throw Invalid(description: "unexpected character in <\(name)> at byte \(i)") }
                spaces()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else {
                    attributes[key] = ""
                    continue
                }
                i += 1
                spaces()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") else {
                    throw Invalid(description: "attribute `\(key)` of <\(name)> has no quoted value")
                }
                let quote = bytes[i]
                let start = i + 1
                i = start
                while i < bytes.count && bytes[i] != quote { i += 1 }
                guard i < bytes.count else { throw Invalid(description: "unterminated value of `\(key)` in <\(name)>") }
                attributes[key] = JUnitReader.decode(bytes[start..<i])
                i += 1
            }
        }

        private func starts(_ s: String) -> Bool {
            let u = Array(s.utf8)
            return i + u.count <= bytes.count && bytes[i..<(i + u.count)].elementsEqual(u)
        }

        private func find(_ s: String, from: Int) -> Int? {
            let u = Array(s.utf8)
            var j = from
            while j + u.count <= bytes.count {
                if bytes[j] == u[0] && bytes[j..<(j + u.count)].elementsEqual(u) { return j }
                j += 1
            }
            return nil
        }

        private mutating func skip(past end: String) throws(Invalid) -> Token {
            guard let at = find(end, from: i + 1) else { throw Invalid(description: "unterminated markup (no `\(end)`)") }
            i = at + end.utf8.count
            return .text("")
        }

        private mutating func word() -> String {
            let start = i
            while i < bytes.count {
                let b = bytes[i]
                let isName =
                    b >= 0x80 || (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D || b == 0x2E
                    || b == 0x3A
                guard isName else { break }
                i += 1
            }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        private mutating func spaces() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }
    }

    /// Text with the five named entities and numeric references replaced.
    static func decode(_ raw: ArraySlice<UInt8>) -> String {
        let s = String(decoding: raw, as: UTF8.self)
        guard s.contains("&") else { return s }
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";"), rest.distance(from: amp, to: semi) <= 10 else {
                out += "&"
                rest = rest[rest.index(after: amp)...]
                continue
            }
            let entity = rest[rest.index(after: amp)..<semi]
            let named = ["lt": "<", "gt": ">", "amp": "&", "quot": "\"", "apos": "'"]
            if let v = named[String(entity)] {
                out += v
            } else if entity.hasPrefix("#"), let code = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16) : UInt32(entity.dropFirst()),
                let scalar = Unicode.Scalar(code)
            {
                out.unicodeScalars.append(scalar)
            } else {
                out += rest[amp...semi]
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}
