import ShipgateModel

extension PipelineDecoder {
    /// `caches.paths`: glob patterns like `inputs`, and also `~/…` (relative to the run's
    /// `$HOME`) and `${{ matrix.AXIS }}` (resolved by the planner per variant). `..`, other
    /// absolute paths and other expressions are refused.
    mutating func dependencyCachePaths(_ node: YAMLNode, jobID: String) -> [Located<String>]? {
        let items: [YAMLNode]
        if case .scalar = node, NodeReader.kind(node) != "null" {
            items = [node]
        } else {
            guard let list = reader.sequence(node, what: "`caches.paths`") else { return nil }
            items = list
        }
        var paths: [Located<String>] = []
        for item in items {
            guard let text = reader.nonEmptyString(item, what: "an entry of `caches.paths`") else { continue }
            var checked = text
            if text.contains(literal: "${{") {
                let (template, refs) = templates.parse(text, node: item)
                if let other = refs.first(where: { if case .matrix = $0.expression { false } else { true } }) {
                    reader.error(
                        "`caches.paths` pattern `\(text)` uses `${{ \(other.expression) }}`; only `matrix.AXIS` is interpolated in `caches.paths`",
                        at: other.location, hint: "use the value in `key` instead")
                    continue
                }
                references += refs.map { ($0, .job(id: jobID, envVisible: [])) }
                checked = template.resolving { _ in "x" }.description
            }
            let body = checked.hasPrefix("!") ? String(checked.dropFirst()) : checked
            let relative = body.hasPrefix("~/") ? String(body.dropFirst(2)) : body
            if body == "~" || (body.hasPrefix("~") && !body.hasPrefix("~/")) {
                reader.error(
                    "`caches.paths` pattern `\(text)` names another user's home", at: item, hint: "write `~/PATH` for a path under the run's $HOME")
                continue
            }
            if let problem = Self.escapeProblem(relative) {
                reader.error(
                    "`caches.paths` pattern `\(text)` \(problem)", at: item,
                    hint: "paths are relative to the workspace root (or to $HOME with `~/`) and stay inside it")
                continue
            }
            paths.append(Located(text, at: reader.location(item)))
        }
        return paths
    }
}

extension PipelineDecoder {
    static let inputsKeys = ["paths", "include-ignored"]

    /// `inputs: {paths: PATTERNS, include-ignored: BOOL}`, the long form of `inputs: PATTERNS`.
    mutating func decodeInputs(_ node: YAMLNode) -> ([Located<String>]?, Bool?) {
        guard let entries = reader.mapping(node, what: "`inputs`", allowed: Self.inputsKeys) else { return (nil, nil) }
        var paths: [Located<String>]?
        var includeIgnored: Bool?
        for entry in entries {
            switch entry.key {
            case "paths": paths = patterns(entry.value, what: "`inputs.paths`")
            case "include-ignored": includeIgnored = reader.bool(entry.value, what: "`inputs.include-ignored`")
            default: break
            }
        }
        if paths == nil && entries.contains(where: { $0.key == "paths" }) == false {
            reader.error("`inputs` has no `paths`", at: node, hint: "add the files the job reads, e.g. `paths: [\"src/**\"]`")
        }
        return (paths, includeIgnored)
    }
}
