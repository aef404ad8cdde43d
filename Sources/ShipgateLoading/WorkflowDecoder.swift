import Crypto
import Foundation
import ShipgateExpressions
import ShipgateModel
import ShipgateWorkflow

/// Decodes a GitHub Actions workflow (`.github/workflows/*.yml`) into a `Workflow`, reporting
/// every problem at once with its location: unknown or misplaced keys, jobs and steps that are
/// not well formed, `needs` that name no job or form a cycle, duplicate step ids, every `${{ }}`
/// and `if:` that does not parse or reads an unknown context, and a matrix GitHub would refuse.
struct WorkflowDecoder {
    let reader: NodeReader
    /// Expressions of every scalar with `${{ }}`, by position, parsed once by `checkExpressions`.
    private let parsed = ParsedExpressions()

    final class ParsedExpressions {
        struct Key: Hashable {
            var line: Int
            var column: Int
        }
        var byMark: [Key: [ShipgateExpressions.Expression]] = [:]
        static func key(_ mark: YAMLMark) -> Key { Key(line: mark.line, column: mark.column) }
    }

    static let topKeys = ["name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"]
    static let jobKeys = [
        "name", "permissions", "needs", "if", "runs-on", "environment", "concurrency", "outputs", "env", "defaults", "steps", "timeout-minutes",
        "strategy", "continue-on-error", "container", "services", "uses", "with", "secrets",
    ]
    static let stepKeys = ["id", "if", "name", "uses", "run", "shell", "with", "env", "continue-on-error", "timeout-minutes", "working-directory"]
    static let contexts: Set<String> = ["github", "env", "vars", "secrets", "inputs", "matrix", "strategy", "needs", "steps", "job", "jobs", "runner"]

    /// True when `root` looks like a workflow: top-level `on` and `jobs` (a shipgate pipeline
    /// has no `on`), so a workflow whose jobs all lack `runs-on` is still checked as one.
    static func isWorkflow(_ root: YAMLNode) -> Bool {
        guard case .mapping(let top) = root else { return false }
        let keys = Set(top.pairs.compactMap { $0.key.scalar?.string })
        return keys.contains("on") && keys.contains("jobs")
    }

    func decode(_ root: YAMLNode) -> Workflow {
        var workflow = Workflow(name: nil, file: reader.file, events: [], jobs: [])
        checkExpressions(in: root)
        guard let top = reader.mapping(root, what: "the workflow", allowed: Self.topKeys) else { return workflow }
        let fields = Dictionary(top.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        if let name = fields["name"] { workflow.name = reader.scalar(name, what: "`name`") }
        if let on = fields["on"] { workflow.events = events(on) } else { reader.error("the workflow has no `on` (the events that start it)", at: root) }
        guard let jobsNode = fields["jobs"] else {
            reader.error("the workflow has no `jobs`", at: root)
            return workflow
        }
        guard let jobs = reader.mapping(jobsNode, what: "`jobs`") else { return workflow }
        if jobs.isEmpty { reader.error("`jobs` is empty", at: jobsNode) }
        for (id, keyNode, node) in jobs {
            if !Self.isIdentifier(id) {
                reader.error("job id `\(id)` must start with a letter or `_` and contain only letters, digits, `-` and `_`", at: keyNode)
            }
            if let job = decodeJob(id: id, node) { workflow.jobs.append(job) }
        }
        checkNeeds(workflow.jobs, jobs: jobs)
        return workflow
    }

    private func events(_ node: YAMLNode) -> [String] {
        switch node {
        case .scalar(let s): return [s.string]
        case .sequence(let list): return list.items.compactMap { reader.scalar($0, what: "an event of `on`") }
        case .mapping: return (reader.mapping(node, what: "`on`") ?? []).map(\.key)
        }
    }

    private func decodeJob(id: String, _ node: YAMLNode) -> Workflow.Job? {
        guard let pairs = reader.mapping(node, what: "job `\(id)`", allowed: Self.jobKeys) else { return nil }
        let fields = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var job = Workflow.Job(id: id, name: nil, needs: [], condition: .default, runsOn: nil, uses: nil, variants: nil, steps: [])
        if let name = fields["name"] { job.name = reader.scalar(name, what: "`name` of job `\(id)`") }
        if let needs = fields["needs"] {
            switch needs {
            case .scalar: job.needs = reader.scalar(needs, what: "`needs`").map { [$0] } ?? []
            default: job.needs = (reader.sequence(needs, what: "`needs` of job `\(id)`") ?? []).compactMap { reader.scalar($0, what: "an entry of `needs`") }
            }
        }
        if let condition = fields["if"] { job.condition = self.condition(condition, what: "job `\(id)`") }
        if let uses = fields["uses"] {
            job.uses = reader.scalar(uses, what: "`uses` of job `\(id)`")
            for key in ["runs-on", "steps"] where fields[key] != nil {
                reader.error("job `\(id)` calls a reusable workflow (`uses`) and cannot also have `\(key)`", at: fields[key]!)
            }
        } else {
            if let runsOn = fields["runs-on"] {
                job.runsOn = labels(runsOn, job: id)
            } else {
                reader.error("job `\(id)` has no `runs-on`", at: node, hint: "add e.g. `runs-on: ubuntu-latest`, or `uses:` to call a reusable workflow")
            }
            if let steps = fields["steps"] {
                job.steps = decodeSteps(steps, job: id)
            } else {
                reader.error("job `\(id)` has no `steps`", at: node)
            }
        }
        if let strategy = fields["strategy"],
            let pairs = reader.mapping(strategy, what: "`strategy` of job `\(id)`", allowed: ["matrix", "fail-fast", "max-parallel"])
        {
            if let matrix = pairs.first(where: { $0.key == "matrix" })?.value { job.variants = variants(matrix, job: id) }
        }
        checkMatrixKeys(in: node, job: id, variants: job.variants, hasMatrix: fields["strategy"] != nil)
        return job
    }

    private func labels(_ node: YAMLNode, job: String) -> [String] {
        switch node {
        case .scalar(let s): return [s.string]
        case .sequence(let list): return list.items.compactMap { reader.scalar($0, what: "a label of `runs-on`") }
        case .mapping:
            let pairs = reader.mapping(node, what: "`runs-on` of job `\(job)`", allowed: ["group", "labels"]) ?? []
            return pairs.flatMap { pair -> [String] in
                switch pair.value {
                case .sequence(let list): return list.items.compactMap { $0.scalar?.string }
                default: return pair.value.scalar.map { [$0.string] } ?? []
                }
            }
        }
    }

    private func decodeSteps(_ node: YAMLNode, job: String) -> [Workflow.Step] {
        guard let items = reader.sequence(node, what: "`steps` of job `\(job)`") else { return [] }
        if items.isEmpty { reader.error("job `\(job)` has no steps", at: node) }
        var steps: [Workflow.Step] = []
        var ids: [String: YAMLNode] = [:]
        for item in items {
            guard let pairs = reader.mapping(item, what: "a step of job `\(job)`", allowed: Self.stepKeys) else { continue }
            let fields = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            var id: String?
            if let idNode = fields["id"], let text = reader.scalar(idNode, what: "a step `id`") {
                if !Self.isIdentifier(text) {
                    reader.error("step id `\(text)` must start with a letter or `_` and contain only letters, digits, `-` and `_`", at: idNode)
                }
                if let first = ids[text] {
                    reader.error("step id `\(text)` is used twice in job `\(job)`", at: idNode, hint: "first used at \(reader.location(first))")
                }
                ids[text] = ids[text] ?? idNode
                id = text
            }
            let action: Workflow.Step.Action
            switch (fields["run"], fields["uses"]) {
            case (let run?, nil): action = .run(reader.scalar(run, what: "`run`") ?? "")
            case (nil, let uses?):
                action = .uses(reader.scalar(uses, what: "`uses`") ?? "")
                if fields["shell"] != nil { reader.error("`shell` applies to `run` steps only", at: fields["shell"]!) }
            case (_?, _?):
                reader.error("a step has both `run` and `uses`; keep one", at: item)
                continue
            case (nil, nil):
                reader.error("a step has neither `run` nor `uses`", at: item, hint: "add `run: COMMAND` or `uses: owner/action@ref`")
                continue
            }
            let condition = fields["if"].map { self.condition($0, what: "a step of job `\(job)`") } ?? .default
            steps.append(Workflow.Step(id: id, name: fields["name"].flatMap { $0.scalar?.string }, condition: condition, action: action))
        }
        return steps
    }

    private func condition(_ node: YAMLNode, what: String) -> IfCondition {
        guard case .scalar(let s) = node else {
            reader.error("`if` of \(what) must be an expression, got \(NodeReader.kind(node))", at: node)
            return .default
        }
        // Booleans and numbers written as YAML scalars are expressions too (`if: false`).
        do {
            let condition = try IfCondition.parse(s.string)
            parsed.byMark[ParsedExpressions.key(s.mark)] = [condition.expression]
            checkContexts(condition.expression, at: node)
            return condition
        } catch {
            reader.error("invalid `if` of \(what): \(error.message)", at: located(node, offset: error.offset.map { $0 + (s.string.hasPrefix("${{") ? 0 : 0) }))
            return .default
        }
    }

    /// A matrix written out is expanded now, so GitHub's refusals are reported with its location;
    /// one produced by an expression is expanded when the run knows its value.
    private func variants(_ node: YAMLNode, job: String) -> [ShipgateWorkflow.Matrix.Combination]? {
        if case .scalar(let s) = node, s.string.hasExpressionMarker { return nil }
        guard case .mapping = node else {
            reader.error("`matrix` of job `\(job)` must be a mapping or a `${{ }}` expression, got \(NodeReader.kind(node))", at: node)
            return nil
        }
        guard let value = Self.value(node) else { return nil }
        do { return try ShipgateWorkflow.Matrix.expand(value) } catch {
            reader.error("job `\(job)`: \(error.message)", at: node)
            return nil
        }
    }

    /// A YAML node as an expression value, with YAML's types for plain scalars (numbers,
    /// booleans, null: `3.10` is the number 3.1, as on GitHub); nil when it holds `${{ }}`.
    static func value(_ node: YAMLNode) -> ExpressionValue? {
        switch node {
        case .scalar(let s):
            if s.string.hasExpressionMarker { return nil }
            guard s.style == .plain else { return .string(s.string) }
            switch s.string {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default:
                let n = ExpressionValue.parseNumber(s.string)
                let numeric = s.string.first.map { $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." } ?? false
                return numeric && !n.isNaN ? .number(n) : .string(s.string)
            }
        case .sequence(let list):
            var items: [ExpressionValue] = []
            for item in list.items {
                guard let v = value(item) else { return nil }
                items.append(v)
            }
            return .array(ExpressionArray(items))
        case .mapping(let map):
            var pairs: [(String, ExpressionValue)] = []
            for pair in map.pairs {
                guard let key = pair.key.scalar?.string, let v = value(pair.value) else { return nil }
                pairs.append((key, v))
            }
            return .object(ExpressionObject(pairs))
        }
    }

    /// `matrix.NAME` where the job's matrix (known before the run) has no such key is empty on
    /// GitHub, almost always a typo: a warning. Without any matrix, every `matrix.NAME` is.
    private func checkMatrixKeys(in node: YAMLNode, job: String, variants: [ShipgateWorkflow.Matrix.Combination]?, hasMatrix: Bool) {
        guard !hasMatrix || variants != nil else { return }  // from an expression: known at run time
        let keys = Set((variants ?? []).flatMap { $0.values.map { $0.key.lowercased() } })
        func scan(_ node: YAMLNode, isCondition: Bool = false) {
            switch node {
            case .scalar(let s):
                guard s.string.contains(literal: "matrix") else { return }
                let expressions: [ShipgateExpressions.Expression]
                if let known = parsed.byMark[ParsedExpressions.key(s.mark)] {
                    expressions = known  // every `${{ }}` and every `if:` was parsed once already
                } else if isCondition {
                    expressions = (try? ExpressionParser.parse(s.string)).map { [$0] } ?? []
                } else {
                    return
                }
                var reported = Set<String>()
                for expression in expressions {
                    expression.visit { e in
                        guard case .property(.context(let context), let name) = e, context.lowercased() == "matrix", !keys.contains(name.lowercased()),
                            reported.insert(name).inserted
                        else { return }
                        reader.warning(
                            hasMatrix
                                ? "`matrix.\(name)` is not a key of the matrix of job `\(job)`; it is empty"
                                : "job `\(job)` has no matrix; `matrix.\(name)` is empty",
                            at: node, hint: Suggest.hint(for: name, in: keys.sorted()))
                    }
                }
            case .sequence(let list): list.items.forEach { scan($0) }
            case .mapping(let map):
                for pair in map.pairs where pair.key.scalar?.string != "strategy" { scan(pair.value, isCondition: pair.key.scalar?.string == "if") }
            }
        }
        scan(node)
    }

    // MARK: - Expressions everywhere

    private func checkExpressions(in node: YAMLNode) {
        switch node {
        case .scalar(let s):
            guard s.string.hasExpressionMarker else { return }
            do {
                let template = try ExpressionTemplate.parse(s.string)
                parsed.byMark[ParsedExpressions.key(s.mark)] = template.expressions
                for expression in template.expressions { checkContexts(expression, at: node) }
            } catch {
                reader.error("invalid expression: \(error.message)", at: located(node, offset: error.offset))
            }
        case .sequence(let list): list.items.forEach(checkExpressions)
        case .mapping(let map):
            for pair in map.pairs {
                // `if:` is checked as a condition where it is decoded.
                if pair.key.scalar?.string == "if" { continue }
                checkExpressions(in: pair.value)
            }
        }
    }

    private func checkContexts(_ expression: ShipgateExpressions.Expression, at node: YAMLNode) {
        for name in expression.contexts.sorted() where !Self.contexts.contains(name) {
            reader.error(
                "unrecognized named-value `\(name)` in an expression", at: node,
                hint: Suggest.hint(for: name, in: Self.contexts.sorted()) ?? "contexts are \(Self.contexts.sorted().joined(separator: ", "))")
        }
    }

    /// Where `offset` (in characters) falls in a scalar: exact on a single-line scalar, the
    /// scalar's start otherwise.
    private func located(_ node: YAMLNode, offset: Int?) -> SourceLocation {
        let base = reader.location(node)
        guard let offset, case .scalar(let s) = node, !s.string.contains("\n"), s.style != .literal, s.style != .folded else { return base }
        let quoted = s.style == .singleQuoted || s.style == .doubleQuoted
        return SourceLocation(file: base.file, line: base.line, column: base.column + offset + (quoted ? 1 : 0))
    }

    // MARK: - Needs

    private func checkNeeds(_ jobs: [Workflow.Job], jobs nodes: [(key: String, keyNode: YAMLNode, value: YAMLNode)]) {
        let ids = Set(jobs.map(\.id))
        let nodeOf = Dictionary(nodes.map { ($0.key, $0.keyNode) }, uniquingKeysWith: { a, _ in a })
        for job in jobs {
            for need in job.needs where !ids.contains(need) {
                reader.error(
                    "job `\(job.id)` needs `\(need)`, which is not a job of this workflow", at: nodeOf[job.id]!,
                    hint: Suggest.hint(for: need, in: ids.sorted()))
            }
        }
        // Cycles: depth-first, reporting each cycle once with its path.
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        let needs = Dictionary(jobs.map { ($0.id, $0.needs.filter(ids.contains)) }, uniquingKeysWith: { a, _ in a })
        func visit(_ id: String, _ path: [String]) {
            if state[id] == 2 { return }
            if state[id] == 1 {
                let cycle = path.drop { $0 != id } + [id]
                reader.error("`needs` form a cycle: \(cycle.joined(separator: " -> "))", at: nodeOf[id]!)
                return
            }
            state[id] = 1
            for need in needs[id] ?? [] { visit(need, path + [id]) }
            state[id] = 2
        }
        for job in jobs { visit(job.id, []) }
    }

    /// GitHub's ids: an ASCII letter or `_`, then ASCII letters, digits, `-` and `_`.
    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.first, first.isASCII, first.isLetter || first == "_" else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}

/// Loads GitHub workflow files.
public enum WorkflowLoader {
    public struct Result: Sendable {
        public var workflow: Workflow?
        public var diagnostics: [Diagnostic]
        /// The workflow as the model the planner and engine run (see `WorkflowLowering`).
        public var pipeline: Pipeline?
    }

    /// Whether the file is a GitHub workflow (by its content: `on` and jobs with `runs-on` or
    /// `uses`), so commands can tell a workflow from a shipgate pipeline.
    public static func isWorkflow(path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        let (document, _) = YAMLDocument.parse(bytes: [UInt8](data), file: path)
        guard let document else { return path.contains("/.github/workflows/") || path.hasPrefix(".github/workflows/") }
        return WorkflowDecoder.isWorkflow(document.root)
    }

    /// A cheap first look: whether a line starts with `on:` (or `"on":`, `'on':`), as every
    /// workflow's does and no shipgate pipeline's does.
    public static func mentionsOn(path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        // Byte search for a line starting with one of the spellings.
        let bytes = [UInt8](data)
        for spelling in ["on:", "\"on\":", "'on':", "on :"] {
            let needle = Array(spelling.utf8)
            var i = 0
            while i + needle.count <= bytes.count {
                if (i == 0 || bytes[i - 1] == 10), bytes[i] == needle[0], Array(bytes[i..<(i + needle.count)]) == needle { return true }
                i += 1
            }
        }
        return false
    }

    public static func load(path: String, actions: (any ActionSource)? = nil) -> Result {
        loadIfWorkflow(path: path, always: true, actions: actions)!
    }

    /// The repository root a workflow file belongs to: the directory above its `.github`,
    /// else the file's own directory.
    public static func repositoryRoot(of path: String) -> String {
        if let range = path.range(of: "/.github/workflows/", options: .backwards) { return String(path[..<range.lowerBound]) }
        if path.hasPrefix(".github/workflows/") { return "." }
        return (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
    }

    /// `load`, parsing the file once, or nil when it is not a workflow (see `isWorkflow`).
    /// `actions` reads the repository's own actions and called workflows (default: the working
    /// tree above the file's `.github`).
    public static func loadIfWorkflow(path: String, always: Bool = false, actions: (any ActionSource)? = nil) -> Result? {
        guard let data = FileManager.default.contents(atPath: path) else {
            return always ? Result(workflow: nil, diagnostics: [.error("cannot read \(path)", at: nil)]) : nil
        }
        let underWorkflows = path.contains("/.github/workflows/") || path.hasPrefix(".github/workflows/")
        let (document, syntax) = YAMLDocument.parse(bytes: [UInt8](data), file: path)
        guard let document else { return always || underWorkflows ? Result(workflow: nil, diagnostics: syntax) : nil }
        guard always || WorkflowDecoder.isWorkflow(document.root) else { return nil }
        let reader = NodeReader(file: path)
        let workflow = WorkflowDecoder(reader: reader).decode(document.root)
        var pipeline: Pipeline?
        if !reader.diagnostics.hasErrors {
            let bytes = [UInt8](data)
            let loader = CompositeActionLoader(source: actions ?? WorkingTreeActions(root: repositoryRoot(of: path)))
            pipeline = WorkflowLowering(reader: reader, workflow: workflow, actions: loader).pipeline(
                document.root, digest: "sha256:" + Hex.string(SHA256.hash(data: bytes)))
            reader.diagnostics += loader.diagnostics
        }
        let diagnostics = reader.diagnostics.sortedByLocation()
        let ok = !diagnostics.hasErrors
        return Result(workflow: ok ? workflow : nil, diagnostics: diagnostics, pipeline: ok ? pipeline : nil)
    }
}
