import Foundation
import ShipgateModel

/// Renders diagnostics compiler-style: `FILE:LINE:COL: error: MESSAGE`, the source line with a
/// caret under the column (when the file can be read), and the hint.
public enum DiagnosticPrinter {
    public static func render(_ diagnostics: [Diagnostic], style: Style, sources: [String: [Substring]] = [:]) -> String {
        var out = ""
        var cache = sources
        for d in diagnostics {
            let head = d.location.map { "\($0): " } ?? ""
            let label = d.severity == .error ? style.red(style.bold("error:")) : style.yellow(style.bold("warning:"))
            out += style.bold(head) + label + " " + d.message + "\n"
            if let loc = d.location {
                if cache[loc.file] == nil, let text = try? String(contentsOfFile: loc.file, encoding: .utf8) {
                    cache[loc.file] = text.split(separator: "\n", omittingEmptySubsequences: false)
                }
                if let lines = cache[loc.file], loc.line >= 1, loc.line <= lines.count {
                    let line = lines[loc.line - 1].replacingOccurrences(of: "\t", with: " ")
                    if line.count <= 200 {
                        out += "  \(line)\n"
                        out += "  " + String(repeating: " ", count: max(0, loc.column - 1)) + style.green("^") + "\n"
                    }
                }
            }
            if let hint = d.hint { out += "  " + style.cyan("hint:") + " \(hint)\n" }
        }
        return out
    }

    /// The one-line summary after the list: "2 errors, 1 warning in FILE".
    public static func summary(_ diagnostics: [Diagnostic], file: String) -> String {
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.count - errors
        var parts: [String] = []
        if errors > 0 { parts.append("\(errors) error\(errors == 1 ? "" : "s")") }
        if warnings > 0 { parts.append("\(warnings) warning\(warnings == 1 ? "" : "s")") }
        return parts.joined(separator: ", ") + " in \(file)"
    }
}
