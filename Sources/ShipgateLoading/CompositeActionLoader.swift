import Foundation
import ShipgateExpressions
import ShipgateModel

/// Where the loader reads the repository's own actions from: the working tree (`./path`), or
/// the running commit (`$/path`, GitHub's self-repository form, which needs no checkout).
public protocol ActionSource: Sendable {
    /// The bytes of `relativePath` (from the repository root), or nil when there is no such file.
    func read(_ relativePath: String, committed: Bool) -> [UInt8]?
}

/// Reads both forms from the working tree (no git history at hand).
public struct WorkingTreeActions: ActionSource {
    public let root: String
    public init(root: String) { self.root = root }
    public func read(_ relativePath: String, committed: Bool) -> [UInt8]? {
        let path = root.isEmpty || root == "." ? relativePath : root + "/" + relativePath
        return FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }
}

/// Reads the composite actions a workflow's steps use (`uses: ./path`, `uses: $/path`).
///
/// Contract (docs.github.com, "Metadata syntax for GitHub Actions" and "Creating a composite
/// action"): the directory's `action.yml` (else `action.yaml`) with `runs.using: composite` and
/// `runs.steps`; each `run` step of it must name its `shell`; `inputs.<id>.default` and
/// `outputs.<id>.value` are templates. Composite actions may use others, up to 10 levels; a
/// cycle is an error. A directory without an action file, or an action that is not composite
/// (JavaScript, Docker), makes the job refused, with the reason; problems inside an action
/// file are errors located in that file.
final class CompositeActionLoader {
    let source: any ActionSource
    /// Diagnostics of the action files, merged into the workflow's.
    var diagnostics: [Diagnostic] = []
    /// Actions already read, by `uses`, so a job's many uses of one action read it once.
    private var loaded: [String: Outcome] = [:]

    init(source: ActionSource) { self.source = source }

    static let maxDepth = 10
    static let stepKeys = ["id", "if", "name", "uses", "run", "shell", "with", "env", "continue-on-error", "working-directory"]

    enum Outcome {
        case action(CompositeAction)
        case refused(String)
    }

    /// `uses` (`./dir` or `$/dir`) as an action directory relative to the repository root, or
    /// nil when it leaves the repository.
    static func directory(of uses: String) -> (directory: String, committed: Bool)? {
        let committed = uses.hasPrefix("$/")
        let raw = committed ? String(uses.dropFirst(2)) : uses
        var parts: [Substring] = []
        for part in raw.split(separator: "/") {
            switch part {
            case ".", "": continue
            case "..":
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            default: parts.append(part)
            }
        }
        return (parts.joined(separator: "/"), committed)
    }

    func load(_ uses: String, stack: [String] = []) -> Outcome {
        if stack.isEmpty, let known = loaded[uses] { return known }
        let outcome = read(uses, stack: stack)
        if stack.isEmpty { loaded[uses] = outcome }
        return outcome
    }

    private func read(_ uses: String, stack: [String]) -> Outcome {
        guard let (directory, committed) = Self.directory(of: uses) else {
            return .refused("`uses: \(uses)` leaves the repository")
        }
        if stack.contains(directory) {
            return .refused("composite actions use each other in a cycle: \((stack + [directory]).joined(separator: " -> "))")
        }
        guard stack.count < Self.maxDepth else { return .refused("composite actions nest deeper than \(Self.maxDepth) levels (GitHub's limit)") }
        let prefix = directory.isEmpty ? "" : directory + "/"
        guard
            let (name, bytes) = ["action.yml", "action.yaml"].lazy.compactMap({ n in self.source.read(prefix + n, committed: committed).map { (n, $0) } }).first
        else {
            return .refused(
                "`uses: \(uses)`: no action.yml in \(directory.isEmpty ? "the repository root" : directory)"
                    + (committed ? " at the running commit (commit it first)" : ""))
        }
        return parse(bytes, path: prefix + name, uses: uses, directory: directory, committed: committed, stack: stack + [directory])
    }

    /// Reads an action file's bytes (`path` names it in diagnostics). `stack`: the directories
    /// of the actions that led here, this one last (for cycles and depth).
    func parse(_ bytes: [UInt8], path: String, uses: String, directory: String, committed: Bool, stack: [String]) -> Outcome {
        let (document, syntax) = YAMLDocument.parse(bytes: bytes, file: path)
        diagnostics += syntax
        guard let document else { return .refused("\(path) cannot be read as YAML") }
        let reader = NodeReader(file: path)
        defer { diagnostics += reader.diagnostics }
        guard let top = reader.mapping(document.root, what: "the action", allowed: ["name", "author", "description", "inputs", "outputs", "runs", "branding"])
        else { return .refused("\(path) is not an action") }
        let fields = Dictionary(top.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let runs = fields["runs"], let runFields = reader.mapping(runs, what: "`runs`") else {
            reader.error("the action has no `runs`", at: document.root)
            return .refused("\(path) has no `runs`")
        }
        let runValues = Dictionary(runFields.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        let using = runValues["using"].flatMap { reader.scalar($0, what: "`runs.using`") } ?? ""
        var javascript: JavaScriptAction?
        if using.hasPrefix("node"), let major = Int(using.dropFirst(4)), (1...99).contains(major) {
            guard let main = runValues["main"]?.scalar?.string, !main.isEmpty else {
                reader.error("a JavaScript action needs `runs.main`", at: runs)
                return .refused("\(path) has no `runs.main`")
            }
            javascript = JavaScriptAction(
                using: using, main: main, pre: runValues["pre"]?.scalar?.string, preIf: runValues["pre-if"]?.scalar?.string,
                post: runValues["post"]?.scalar?.string, postIf: runValues["post-if"]?.scalar?.string)
            for (key, node) in [("pre-if", runValues["pre-if"]), ("post-if", runValues["post-if"])] {
                guard let s = node?.scalar?.string else { continue }
                do { _ = try IfCondition.parse(s) } catch { reader.error("invalid expression in `\(key)`: \(error.message)", at: node!) }
            }
        } else if using != "composite" {
            let kind = using == "docker" ? "a Docker action" : "`using: \(using)`"
            return .refused(
                "\(path) is \(kind), which shipgate does not run (it runs composite and JavaScript actions on the host, without containers)")
        }
        var inputs: [CompositeAction.Input] = []
        if let node = fields["inputs"] {
            for (key, _, value) in reader.mapping(node, what: "`inputs`") ?? [] {
                let spec = reader.mapping(value, what: "input `\(key)`") ?? []
                let f = Dictionary(spec.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
                inputs.append(
                    CompositeAction.Input(
                        name: key, defaultText: f["default"].flatMap { $0.scalar?.string },
                        required: f["required"].flatMap { $0.scalar?.string.lowercased() } == "true"))
            }
        }
        var outputs: [NamedText] = []
        if let node = fields["outputs"] {
            for (key, _, value) in reader.mapping(node, what: "`outputs`") ?? [] {
                let spec = reader.mapping(value, what: "output `\(key)`") ?? []
                guard let v = spec.first(where: { $0.key == "value" })?.value else {
                    if javascript != nil { continue }  // set by the script, not by a template
                    reader.error("output `\(key)` of a composite action needs `value`", at: value)
                    continue
                }
                outputs.append(NamedText(name: key, text: v.scalar?.string ?? "", location: reader.location(v)))
            }
        }
        var steps: [GitHubStep] = []
        let stepsNode = javascript == nil ? runValues["steps"] : nil
        if let stepsNode, let items = reader.sequence(stepsNode, what: "`runs.steps`") {
            for item in items {
                guard let pairs = reader.mapping(item, what: "a step of the action", allowed: Self.stepKeys) else { continue }
                let f = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
                var step = GitHubStep()
                step.id = f["id"]?.scalar?.string
                step.name = f["name"]?.scalar?.string
                step.condition = f["if"]?.scalar?.string ?? ""
                step.run = f["run"]?.scalar?.string
                step.uses = f["uses"]?.scalar?.string
                step.shell = f["shell"]?.scalar?.string
                step.workingDirectory = f["working-directory"]?.scalar?.string
                step.continueOnError = f["continue-on-error"]?.scalar?.string
                step.env = Self.named(f["env"], reader: reader)
                step.with = Self.named(f["with"], reader: reader)
                for (key, node) in [("if", f["if"]), ("run", f["run"])] {
                    guard let s = node?.scalar?.string else { continue }
                    do {
                        if key == "if" { _ = try IfCondition.parse(s) } else { _ = try ExpressionTemplate.parse(s) }
                    } catch {
                        reader.error("invalid expression in `\(key)`: \(error.message)", at: node!)
                    }
                }
                switch (step.run, step.uses) {
                case (_?, nil):
                    if step.shell == nil {
                        reader.error("a `run` step of a composite action must name its `shell`", at: item, hint: "add `shell: bash`")
                    }
                case (nil, let uses?):
                    switch NativeAction.kind(of: uses) {
                    case .native: break
                    case .local:
                        switch load(uses, stack: stack) {
                        case .action(let nested): step.composite = nested
                        case .refused(let why): return .refused("\(path): \(why)")
                        }
                    case .repository: break  // fetched and read by the run
                    default:
                        return .refused("\(path) uses `\(uses)`: " + (WorkflowLowering.refusal(uses: uses) ?? "not run"))
                    }
                default:
                    reader.error("a step of the action needs exactly one of `run` and `uses`", at: item)
                }
                steps.append(step)
            }
        } else if javascript == nil {
            reader.error("a composite action needs `runs.steps`", at: runs)
        }
        let actionName = fields["name"]?.scalar?.string ?? directory
        var action = CompositeAction(path: uses, directory: directory, fromCommit: committed, name: actionName, inputs: inputs, outputs: outputs, steps: steps)
        action.javascript = javascript
        return .action(action)
    }

    private static func named(_ node: YAMLNode?, reader: NodeReader) -> [NamedText] {
        guard let node, let pairs = reader.mapping(node, what: "a mapping of the action") else { return [] }
        return pairs.compactMap { key, _, value in
            guard case .scalar(let s) = value else {
                reader.error("`\(key)` must be a string, got \(NodeReader.kind(value))", at: value)
                return nil
            }
            return NamedText(name: key, text: s.string, location: reader.location(value))
        }
    }
}

/// Reads the action of another repository that a run fetched: `action.yml` (else
/// `action.yaml`) in `directory`, with the loader's rules; its steps' `./` actions are the
/// workflow repository's (`workspace`), as on GitHub. A problem in the file refuses the action,
/// with its location.
public enum RemoteActionReader {
    public static func read(directory: String, uses: String, workspace: any ActionSource, stack: [String] = []) -> (action: CompositeAction?, refusal: String?)
    {
        read(file: { name in FileManager.default.contents(atPath: directory + "/" + name).map { [UInt8]($0) } }, uses: uses, workspace: workspace, stack: stack)
    }

    /// The same, with the action's files read by `file` (relative to the action's directory:
    /// `action.yml`), e.g. from the action cache's object database without extracting it.
    public static func read(file: (String) -> [UInt8]?, uses: String, workspace: any ActionSource, stack: [String] = []) -> (
        action: CompositeAction?, refusal: String?
    ) {
        guard let (name, bytes) = ["action.yml", "action.yaml"].compactMap({ n in file(n).map { (n, $0) } }).first else {
            return (nil, "`\(uses)` has no action.yml (nor action.yaml) at the fetched commit")
        }
        let loader = CompositeActionLoader(source: workspace)
        let outcome = loader.parse(bytes, path: "\(uses): \(name)", uses: uses, directory: "", committed: false, stack: stack + [uses])
        if let error = loader.diagnostics.first(where: { $0.severity == .error }) {
            return (nil, (error.location.map { "\($0): " } ?? "") + error.message)
        }
        switch outcome {
        case .action(let action): return (action, nil)
        case .refused(let why): return (nil, why)
        }
    }
}
