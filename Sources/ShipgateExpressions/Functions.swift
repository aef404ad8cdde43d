/// The functions of GitHub's expression language. Names are case-insensitive.
enum Functions {
    /// Minimum and maximum argument counts.
    static let arity: [String: (Int, Int)] = [
        "contains": (2, 2), "startswith": (2, 2), "endswith": (2, 2), "format": (1, 255), "join": (1, 2), "tojson": (1, 1),
        "fromjson": (1, 1), "hashfiles": (1, 255), "success": (0, 0), "always": (0, 0), "failure": (0, 0), "cancelled": (0, 0),
    ]

    static func check(_ name: String, arguments: Int, offset: Int) throws(ExpressionError) {
        guard let (low, high) = arity[name.lowercased()] else {
            throw ExpressionError(
                "unknown function `\(name)` (GitHub has contains, startsWith, endsWith, format, join, toJSON, fromJSON, hashFiles, success, always, failure, cancelled)",
                offset: offset)
        }
        guard arguments >= low && arguments <= high else {
            let expected = low == high ? "\(low)" : high == 255 ? "at least \(low)" : "\(low) or \(high)"
            throw ExpressionError("`\(name)` takes \(expected) argument\(expected == "1" ? "" : "s"), got \(arguments)", offset: offset)
        }
    }

    static func call(_ name: String, _ args: [ExpressionValue], scope: ExpressionScope) throws(ExpressionError) -> ExpressionValue {
        switch name.lowercased() {
        case "contains":
            if case .array(let array) = args[0] { return .bool(array.items.contains { Compare.equal($0, args[1]) }) }
            guard args[0].isPrimitive, args[1].isPrimitive else { return .bool(false) }
            return .bool(fold(args[0].text).contains(fold(args[1].text)) || args[1].text.isEmpty)
        case "startswith":
            guard args[0].isPrimitive, args[1].isPrimitive else { return .bool(false) }
            return .bool(fold(args[0].text).hasPrefix(fold(args[1].text)))
        case "endswith":
            guard args[0].isPrimitive, args[1].isPrimitive else { return .bool(false) }
            return .bool(fold(args[0].text).hasSuffix(fold(args[1].text)))
        case "format":
            return .string(try format(args[0].text, Array(args.dropFirst())))
        case "join":
            let separator = args.count > 1 && args[1].isPrimitive ? args[1].text : ","
            if case .array(let array) = args[0] { return .string(array.items.map(\.text).joined(separator: separator)) }
            return .string(args[0].isPrimitive ? args[0].text : "")
        case "tojson":
            return .string(JSONText.write(args[0]))
        case "fromjson":
            return try JSONText.read(args[0].text)
        case "hashfiles":
            guard let hashFiles = scope.hashFiles else { throw ExpressionError("hashFiles() is not available here (only in steps)") }
            do { return .string(try hashFiles(args.map(\.text))) } catch {
                throw ExpressionError("hashFiles(\(args.map { "'\($0.text)'" }.joined(separator: ", "))) failed: \(error)")
            }
        case "success", "always", "failure", "cancelled":
            guard let status = scope.status, let which = ExpressionScope.Status(rawValue: name.lowercased()) else {
                throw ExpressionError("\(name)() is only available in `if:` conditions")
            }
            return .bool(status(which))
        default:
            throw ExpressionError("unknown function `\(name)`")
        }
    }

    private static func fold(_ s: String) -> String { ExpressionObject.fold(s) }

    /// `format('{0} and {{literal}}', x)`: `{N}` is argument N as text, `{{` and `}}` are braces;
    /// anything else with a brace, or an N beyond the arguments, is an error (as on GitHub).
    static func format(_ template: String, _ args: [ExpressionValue]) throws(ExpressionError) -> String {
        let chars = Array(template)
        var out = ""
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{" {
                if i + 1 < chars.count && chars[i + 1] == "{" {
                    out.append("{")
                    i += 2
                    continue
                }
                var j = i + 1
                while j < chars.count && chars[j].isASCII && chars[j].isNumber { j += 1 }
                guard j > i + 1, j < chars.count, chars[j] == "}", let n = Int(String(chars[(i + 1)..<j])) else {
                    throw ExpressionError("the format string is invalid: \(template)")
                }
                guard n < args.count else { throw ExpressionError("the format string references more arguments than were supplied: \(template)") }
                out += args[n].text
                i = j + 1
            } else if c == "}" {
                guard i + 1 < chars.count && chars[i + 1] == "}" else { throw ExpressionError("the format string is invalid: \(template)") }
                out.append("}")
                i += 2
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }
}
