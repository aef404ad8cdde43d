import Foundation
import ShipgateExpressions
import ShipgateModel

/// `github:` on a job or in `defaults` (see `GitHubExportSettings`): `runs-on`,
/// `permissions`, and `steps-before`, each step checked as the workflow loader checks a
/// workflow's steps (its keys, exactly one of `run` and `uses`, `shell` only with `run`, its
/// `if:` an expression), so a problem is reported at its line, not by GitHub after a push.
extension PipelineDecoder {
    static let githubKeys = ["runs-on", "permissions", "steps-before"]

    func decodeGitHubExport(_ node: YAMLNode, what: String) -> GitHubExportSettings? {
        guard let entries = reader.mapping(node, what: what, allowed: Self.githubKeys) else { return nil }
        var settings = GitHubExportSettings()
        for entry in entries {
            switch entry.key {
            case "runs-on":
                switch entry.value {
                case .scalar(let s) where s.string.isEmpty: reader.error("`runs-on` of \(what) is empty", at: entry.value)
                default: settings.runsOn = Self.json(entry.value)
                }
            case "permissions":
                if case .scalar(let s) = entry.value, !["read-all", "write-all"].contains(s.string) {
                    reader.error("`permissions` of \(what) must be `read-all`, `write-all` or a mapping of scopes", at: entry.value)
                } else {
                    settings.permissions = Self.json(entry.value)
                }
            case "steps-before":
                guard let items = reader.sequence(entry.value, what: "`steps-before` of \(what)") else { continue }
                for item in items where checkStep(item, what: "a step of `steps-before` of \(what)") { settings.stepsBefore.append(Self.json(item)) }
            default: break
            }
        }
        return settings
    }

    private func checkStep(_ item: YAMLNode, what: String) -> Bool {
        guard let pairs = reader.mapping(item, what: what, allowed: WorkflowDecoder.stepKeys) else { return false }
        let fields = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        if let id = fields["id"], id.scalar?.string == "shipgate" {
            reader.error("step id `shipgate` is the exported job's own shipgate step; choose another", at: id)
            return false
        }
        switch (fields["run"], fields["uses"]) {
        case (_?, nil): break
        case (nil, let uses?):
            if fields["shell"] != nil { reader.error("`shell` applies to `run` steps only", at: fields["shell"]!) }
            if let text = uses.scalar?.string, case .malformed = NativeAction.kind(of: text) {
                reader.error("`uses: \(text)` must be `owner/repo@ref`, `owner/repo/path@ref`, `./path` or `docker://image`", at: uses)
            }
        case (_?, _?):
            reader.error("\(what) has both `run` and `uses`; keep one", at: item)
            return false
        case (nil, nil):
            reader.error("\(what) has neither `run` nor `uses`", at: item, hint: "add `run: COMMAND` or `uses: owner/action@ref`")
            return false
        }
        if let condition = fields["if"] {
            guard let text = condition.scalar?.string else {
                reader.error("`if` of \(what) must be an expression", at: condition)
                return false
            }
            do { _ = try IfCondition.parse(text) } catch { reader.error("invalid `if` of \(what): \(error.message)", at: condition) }
        }
        for (key, value) in pairs.map({ ($0.key, $0.value) }) where value.scalar != nil && key != "if" {
            if let text = value.scalar?.string, text.contains("${{") {
                do { _ = try ExpressionTemplate.parse(text) } catch { reader.error("invalid expression in `\(key)` of \(what): \(error.message)", at: value) }
            }
        }
        return true
    }

    /// A node in YAML's flow style: a plain scalar that YAML 1.2's core schema types (booleans,
    /// null, integers in decimal, octal `0o` or hex `0x`, floats, `.inf`, `.nan`) as written, so
    /// GitHub reads the same type; every other scalar a double-quoted string; mappings in their
    /// key order.
    static func json(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if s.string.isEmpty || s.string == "~" { return "null" }
                if isCoreTyped(s.string) { return s.string }
            }
            return JSONObject.quote(s.string)
        case .sequence(let list): return "[" + list.items.map(json).joined(separator: ", ") + "]"
        case .mapping(let map):
            return "{" + map.pairs.map { JSONObject.quote($0.key.scalar?.string ?? "") + ": " + json($0.value) }.joined(separator: ", ") + "}"
        }
    }

    /// YAML 1.2 core schema: the plain scalars that are not strings.
    static func isCoreTyped(_ text: String) -> Bool {
        let patterns = [
            "^(true|True|TRUE|false|False|FALSE|null|Null|NULL)$", "^[-+]?[0-9]+$", "^0o[0-7]+$", "^0x[0-9a-fA-F]+$",
            "^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$", "^[-+]?\\.(inf|Inf|INF)$", "^\\.(nan|NaN|NAN)$",
        ]
        return patterns.contains { text.range(of: $0, options: .regularExpression) != nil }
    }
}
