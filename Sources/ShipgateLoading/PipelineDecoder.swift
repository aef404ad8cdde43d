import Foundation
import ShipgateModel

/// Turns a YAML node tree into a `Pipeline`, collecting every problem on the way.
///
/// The only place that knows the file's key names; the keys accepted at each level are
/// listed here and in docs/pipeline-format.md, and nowhere else.
struct PipelineDecoder {
    static let topKeys = ["name", "env", "defaults", "stages", "secrets", "environments", "jobs"]
    static let defaultsKeys = ["timeout", "idle-timeout", "retry", "shell", "working-directory", "isolation", "github"]
    static let jobKeys = [
        "stage", "needs", "after", "matrix", "env", "timeout", "idle-timeout", "retry", "continue-on-error", "shell", "working-directory", "steps",
        "inputs", "outputs", "cache-key-extra", "caches", "artifacts", "when", "environment", "verify", "rollback",
        "isolation", "resource-group", "toolchain", "junit", "github",
    ]
    static let whenKeys = ["branches", "tags", "changes", "manual"]
    static let dependencyCacheKeys = ["key", "paths", "restore-keys"]
    static let artifactKeys = ["paths", "expire"]
    static let stepKeys = ["name", "run", "working-directory", "env", "timeout", "shell", "detach"]
    static let retryKeys = ["attempts", "backoff", "max-backoff"]

    let reader: NodeReader
    let templates: TemplateParser
    /// Every interpolation with the scope it appeared in, checked once the whole file is read.
    var references: [(TemplateParser.Reference, Scope)] = []

    /// Where an interpolation stands, which decides what it may refer to.
    enum Scope {
        case pipelineEnv
        case job(id: String, envVisible: Set<String>)
    }

    init(reader: NodeReader, source: SourceLines) {
        self.reader = reader
        self.templates = TemplateParser(reader: reader, source: source)
    }

    mutating func decode(_ root: YAMLNode, digest: String) -> Pipeline? {
        guard let top = reader.mapping(root, what: "the pipeline", allowed: Self.topKeys) else { return nil }
        let fields = Dictionary(top.map { ($0.key, ($0.keyNode, $0.value)) }, uniquingKeysWith: { a, _ in a })
        let rootLocation = reader.location(root)

        // Without `name`, the file's name without its extension (`ci` for `pipelines/ci.yml`).
        var name = URL(fileURLWithPath: reader.file).deletingPathExtension().lastPathComponent
        if let (_, node) = fields["name"] {
            name = reader.nonEmptyString(node, what: "`name`") ?? ""
        }
        let env = fields["env"].map { decodeEnv($0.1, what: "`env`", scope: .pipelineEnv) } ?? []
        let defaults = fields["defaults"].map { decodeDefaults($0.1) } ?? .standard
        let declaredStages = fields["stages"].flatMap { reader.stringList($0.1, what: "`stages`") }
        if let stages = declaredStages {
            var seen = Set<String>()
            for stage in stages where !seen.insert(stage.value).inserted {
                reader.error("stage `\(stage.value)` is listed twice in `stages`", at: stage.location)
            }
        }
        let secrets = fields["secrets"].flatMap { reader.stringList($0.1, what: "`secrets`") } ?? []
        for secret in secrets where !Self.isEnvName(secret.value) {
            reader.error(
                "`\(secret.value)` is not a valid environment variable name", at: secret.location,
                hint: "use letters, digits and `_`, not starting with a digit")
        }

        var jobs: [JobDefinition] = []
        if let (_, jobsNode) = fields["jobs"] {
            if let entries = reader.mapping(jobsNode, what: "`jobs`") {
                if entries.isEmpty { reader.error("`jobs` is empty", at: jobsNode, hint: "define at least one job with `steps`") }
                let pipelineEnvNames = Set(env.map(\.name))
                for entry in entries {
                    if let job = decodeJob(id: entry.key, keyNode: entry.keyNode, node: entry.value, pipelineEnv: pipelineEnvNames, defaults: defaults) {
                        jobs.append(job)
                    }
                }
            }
        } else {
            reader.error("missing required key `jobs`", at: rootLocation, hint: "add a `jobs:` mapping of job ids to jobs")
        }

        // Stage order: declared, else by first appearance.
        var stages = declaredStages?.map(\.value) ?? []
        if declaredStages == nil {
            for job in jobs { if let s = job.stage, !stages.contains(s) { stages.append(s) } }
        } else {
            for job in jobs {
                if let s = job.stage, !stages.contains(s) {
                    reader.error(
                        "job `\(job.id)` names stage `\(s)`, which is not in `stages`", at: job.location,
                        hint: Suggest.hint(for: s, in: stages) ?? "add `\(s)` to `stages`")
                }
            }
        }

        let environments = fields["environments"].map { decodeEnvironments($0.1) } ?? []
        checkReferences(jobs: jobs, secrets: Set(secrets.map(\.value) + environments.flatMap { $0.secrets.map(\.value) }))
        checkEnvironments(environments, jobs: jobs, secrets: secrets)
        var pipeline = Pipeline(name: name, file: reader.file, digest: digest, env: env, defaults: defaults, stages: stages, secrets: secrets, jobs: jobs)
        pipeline.environments = environments
        return pipeline
    }

    /// Variables shipgate sets for each step (refused as `$NAME` in `env` values), and those of
    /// the run context with their `${{ git.KEY }}`.
    static let stepVariables: Set<String> = [
        "SHIPGATE_RUN_ID", "SHIPGATE_JOB", "SHIPGATE_OUTPUT", "SHIPGATE_WORKSPACE", "SHIPGATE_ATTEMPT", "SHIPGATE_ARTIFACTS", "SHIPGATE_ENV",
        "SHIPGATE_PATH",
    ]
    static let contextVariables = [
        "SHIPGATE_COMMIT": "commit", "SHIPGATE_COMMIT_SHORT": "commit_short", "SHIPGATE_BRANCH": "branch", "SHIPGATE_TAG": "tag",
        "SHIPGATE_DIRTY": "dirty", "SHIPGATE_VERSION": "version", "SHIPGATE_ACTOR": "actor",
    ]

    static func isEnvName(_ s: String) -> Bool {
        guard let first = s.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return s.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    static func isJobID(_ s: String) -> Bool {
        guard let first = s.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return s.allSatisfy { $0 == "_" || $0 == "-" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    // MARK: - Pieces

    private mutating func decodeEnv(_ node: YAMLNode, what: String, scope: Scope) -> [EnvVar] {
        guard let entries = reader.mapping(node, what: what) else { return [] }
        var vars: [EnvVar] = []
        for entry in entries {
            guard Self.isEnvName(entry.key) else {
                reader.error(
                    "`\(entry.key)` is not a valid environment variable name", at: entry.keyNode, hint: "use letters, digits and `_`, not starting with a digit"
                )
                continue
            }
            if case .scalar = entry.value, NodeReader.kind(entry.value) != "null" {
                let (template, refs) = templates.parse(entry.value.scalar!.string, node: entry.value, variables: true)
                references += refs.map { ($0, scope) }
                vars.append(EnvVar(name: entry.key, value: template, location: reader.location(entry.keyNode)))
            } else {
                reader.error(
                    "value of `\(entry.key)` in \(what) must be a string, got \(NodeReader.kind(entry.value))", at: entry.value,
                    hint: NodeReader.kind(entry.value) == "null" ? "write `\(entry.key): \"\"` for an empty value" : nil)
            }
        }
        return vars
    }

    private mutating func decodeDefaults(_ node: YAMLNode) -> Defaults {
        var defaults = Defaults.standard
        guard let entries = reader.mapping(node, what: "`defaults`", allowed: Self.defaultsKeys) else { return defaults }
        for entry in entries {
            switch entry.key {
            case "timeout": if let t = reader.timeout(entry.value, what: "`defaults.timeout`") { defaults.timeout = t }
            case "idle-timeout": defaults.idleTimeout = reader.idleTimeout(entry.value, what: "`defaults.idle-timeout`")
            case "retry": if let r = decodeRetry(entry.value, base: .none) { defaults.retry = r }
            case "shell": if let s = decodeShell(entry.value) { defaults.shell = s }
            case "working-directory": defaults.workingDirectory = decodePath(entry.value, what: "`defaults.working-directory`", scope: .pipelineEnv)
            case "isolation": if let i = decodeIsolation(entry.value, base: .shared) { defaults.isolation = i }
            case "github": defaults.github = decodeGitHubExport(entry.value, what: "`defaults.github`")
            default: break
            }
        }
        return defaults
    }

    private func decodeRetry(_ node: YAMLNode, base: RetryPolicy) -> RetryPolicy? {
        guard let entries = reader.mapping(node, what: "`retry`", allowed: Self.retryKeys) else { return nil }
        var policy = base
        for entry in entries {
            switch entry.key {
            case "attempts": if let n = reader.int(entry.value, what: "`retry.attempts`", range: 1...20) { policy.attempts = n }
            case "backoff": if let d = reader.duration(entry.value, what: "`retry.backoff`") { policy.backoff = d }
            case "max-backoff": if let d = reader.duration(entry.value, what: "`retry.max-backoff`") { policy.maxBackoff = d }
            default: break
            }
        }
        if policy.maxBackoff < policy.backoff {
            reader.error("`retry.max-backoff` (\(policy.maxBackoff)) is shorter than `retry.backoff` (\(policy.backoff))", at: node)
        }
        return policy
    }

    private func decodeShell(_ node: YAMLNode) -> Shell? {
        guard let text = reader.scalar(node, what: "`shell`") else { return nil }
        guard let shell = Shell(rawValue: text) else {
            reader.error("unknown shell `\(text)`", at: node, hint: Suggest.hint(for: text, in: Shell.allCases.map(\.rawValue)) ?? "use `sh` or `bash`")
            return nil
        }
        return shell
    }

    private mutating func decodePath(_ node: YAMLNode, what: String, scope: Scope) -> Template? {
        guard let text = reader.nonEmptyString(node, what: what) else { return nil }
        let (template, refs) = templates.parse(text, node: node)
        references += refs.map { ($0, scope) }
        if text.hasPrefix("/") || text.split(separator: "/").contains("..") {
            reader.error("\(what) `\(text)` leaves the workspace", at: node, hint: "use a path relative to the workspace root, without `..`")
        }
        return template
    }

    private mutating func decodeJob(id: String, keyNode: YAMLNode, node: YAMLNode, pipelineEnv: Set<String>, defaults: Defaults) -> JobDefinition? {
        let location = reader.location(keyNode)
        if !Self.isJobID(id) {
            reader.error("`\(id)` is not a valid job id", at: keyNode, hint: "use letters, digits, `_` and `-`, starting with a letter or `_`")
        }
        guard let entries = reader.mapping(node, what: "job `\(id)`", allowed: Self.jobKeys) else { return nil }
        var job = JobDefinition(id: id, location: location, steps: [])
        var stepsNode: YAMLNode?
        var envNode: YAMLNode?
        var directoryNode: YAMLNode?
        var inputs: [Located<String>]?
        var includeIgnored: Bool?
        var outputs: [Located<String>] = []
        var keyExtra: [Located<String>] = []
        var outputsNode: YAMLNode?
        var keyExtraNode: YAMLNode?
        var cachesNode: YAMLNode?
        var deployNodes: [String: (key: YAMLNode, value: YAMLNode)] = [:]
        for entry in entries {
            switch entry.key {
            case "stage": job.stage = reader.nonEmptyString(entry.value, what: "`stage`")
            case "needs":
                if case .scalar = entry.value {
                    if NodeReader.kind(entry.value) == "null" {
                        reader.error("`needs` must be a job id or a list of job ids", at: entry.value, hint: "write `needs: []` to start at once")
                        job.needs = []
                    } else {
                        job.needs = reader.nonEmptyString(entry.value, what: "`needs`").map { [Located($0, at: reader.location(entry.value))] } ?? []
                    }
                } else {
                    job.needs = reader.stringList(entry.value, what: "`needs`") ?? []
                }
            case "after":
                if case .scalar = entry.value, NodeReader.kind(entry.value) != "null" {
                    job.after = reader.nonEmptyString(entry.value, what: "`after`").map { [Located($0, at: reader.location(entry.value))] } ?? []
                } else {
                    job.after = reader.stringList(entry.value, what: "`after`") ?? []
                }
            case "matrix": job.matrix = decodeMatrix(entry.value)
            case "env": envNode = entry.value
            case "timeout": job.timeout = reader.timeout(entry.value, what: "`timeout`")
            case "idle-timeout": job.idleTimeout = reader.idleTimeout(entry.value, what: "`idle-timeout`")
            case "retry": job.retry = decodeRetry(entry.value, base: defaults.retry)
            case "continue-on-error": job.continueOnError = reader.bool(entry.value, what: "`continue-on-error`") ?? false
            case "shell": job.shell = decodeShell(entry.value)
            case "working-directory": directoryNode = entry.value
            case "steps": stepsNode = entry.value
            case "inputs":
                if case .mapping = entry.value {
                    (inputs, includeIgnored) = decodeInputs(entry.value)
                    break
                }
                inputs = patterns(entry.value, what: "`inputs`")
                if case .sequence(let list) = entry.value, list.items.isEmpty {
                    reader.warning("`inputs` is empty: the job is never cached", at: entry.keyNode)
                }
            case "outputs":
                outputsNode = entry.keyNode
                outputs = patterns(entry.value, what: "`outputs`") ?? []
            case "cache-key-extra":
                keyExtraNode = entry.keyNode
                keyExtra = (reader.stringList(entry.value, what: "`cache-key-extra`") ?? []).filter { command in
                    guard command.value.contains(literal: "${{") else { return true }
                    reader.error(
                        "`cache-key-extra` command `\(command.value)` uses `${{ }}`, which is not interpolated there", at: command.location,
                        hint: "write the command literally; it runs in the workspace with the job's `env`, so pass matrix values through `env`")
                    return false
                }
            case "caches": cachesNode = entry.value
            case "artifacts": job.artifacts = decodeArtifacts(entry.value)
            case "when": job.when = decodeWhen(entry.value)
            case "environment", "verify", "rollback": deployNodes[entry.key] = (entry.keyNode, entry.value)
            case "isolation": job.isolation = decodeIsolation(entry.value, base: defaults.isolation)
            case "toolchain": job.toolchain = decodeToolchain(entry.value)
            case "github": job.githubExport = decodeGitHubExport(entry.value, what: "`github` of job `\(id)`")
            case "junit": job.junit = patterns(entry.value, what: "`junit`") ?? []
            case "resource-group":
                if let name = reader.nonEmptyString(entry.value, what: "`resource-group`") {
                    job.resourceGroup = Located(name, at: reader.location(entry.value))
                }
            default: break
            }
        }
        if let envNode { job.env = decodeEnv(envNode, what: "`env` of job `\(id)`", scope: .job(id: id, envVisible: pipelineEnv)) }
        let jobEnv = pipelineEnv.union(job.env.map(\.name))
        job.outputs = outputs
        if let inputs {
            if !inputs.isEmpty { job.cache = CacheSpec(inputs: inputs, outputs: outputs, keyExtra: keyExtra, includeIgnored: includeIgnored) }
        } else {
            if let outputsNode {
                reader.warning(
                    "`outputs` without `inputs`: the job is never cached (its outputs still flow out of and into private workspaces)",
                    at: outputsNode, hint: "list the files the job reads under `inputs`")
            }
            if let keyExtraNode {
                reader.warning(
                    "`cache-key-extra` has no effect without `inputs`: the job is never cached", at: keyExtraNode,
                    hint: "list the files the job reads under `inputs`")
            }
        }
        if let cachesNode { job.caches = decodeDependencyCaches(cachesNode, id: id, jobEnv: jobEnv) }
        if let directoryNode {
            job.workingDirectory = decodePath(directoryNode, what: "`working-directory`", scope: .job(id: id, envVisible: jobEnv))
        }
        if let stepsNode {
            if let items = reader.sequence(stepsNode, what: "`steps`") {
                if items.isEmpty { reader.error("job `\(id)` has no steps", at: stepsNode, hint: "add at least one step: `- run: make test`") }
                for item in items {
                    if let step = decodeStep(item, jobID: id, jobEnv: jobEnv) { job.steps.append(step) }
                }
            }
        } else {
            reader.error("job `\(id)` has no `steps`", at: keyNode, hint: "add `steps:` with at least one `- run: COMMAND`")
        }
        if !deployNodes.isEmpty { job.deploy = decodeDeploy(deployNodes, jobID: id, jobEnv: jobEnv) }
        return job
    }

    /// Workspace-relative glob patterns (a leading `!` excludes); absolute paths and `..` are refused.
    func patterns(_ node: YAMLNode, what: String) -> [Located<String>]? {
        let list: [Located<String>]?
        if case .scalar = node, NodeReader.kind(node) != "null" {
            list = reader.nonEmptyString(node, what: what).map { [Located($0, at: reader.location(node))] }
        } else {
            list = reader.stringList(node, what: what)
        }
        guard let list else { return nil }
        return list.filter { pattern in
            if let problem = Self.escapeProblem(pattern.value) {
                reader.error(
                    "\(what) pattern `\(pattern.value)` \(problem)", at: pattern.location, hint: "paths are relative to the workspace root and stay inside it")
                return false
            }
            return true
        }
    }

    /// Why a path pattern would leave the workspace by its text, or nil.
    static func escapeProblem(_ pattern: String) -> String? {
        let body = pattern.hasPrefix("!") ? String(pattern.dropFirst()) : pattern
        if body.isEmpty { return "is empty" }
        if body.contains(literal: "${{") { return "uses `${{ }}`, which is not interpolated in path patterns" }
        if body.hasPrefix("/") || body.hasPrefix("~") { return "is absolute" }
        if body.split(separator: "/", omittingEmptySubsequences: false).contains("..") { return "leaves the workspace (`..`)" }
        if body.contains(literal: "\0") { return "contains a NUL character" }
        return nil
    }

    private mutating func decodeDependencyCaches(_ node: YAMLNode, id: String, jobEnv: Set<String>) -> [DependencyCache] {
        guard let items = reader.sequence(node, what: "`caches`") else { return [] }
        var caches: [DependencyCache] = []
        for item in items {
            guard let entries = reader.mapping(item, what: "an entry of `caches`", allowed: Self.dependencyCacheKeys) else { continue }
            let fields = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            guard let keyNode = fields["key"], let keyText = reader.nonEmptyString(keyNode, what: "`caches.key`") else {
                if fields["key"] == nil {
                    reader.error("an entry of `caches` has no `key`", at: item, hint: "add e.g. `key: \"pip-${{ hashFiles('requirements.lock') }}\"`")
                }
                continue
            }
            let (key, refs) = templates.parse(keyText, node: keyNode)
            references += refs.map { ($0, .job(id: id, envVisible: jobEnv)) }
            guard let pathsNode = fields["paths"] else {
                reader.error("an entry of `caches` has no `paths`", at: item, hint: "add the directories to keep, e.g. `paths: [.venv]`")
                continue
            }
            let paths = dependencyCachePaths(pathsNode, jobID: id) ?? []
            if paths.isEmpty { continue }
            var restoreKeys: [Template] = []
            if let restoreNode = fields["restore-keys"], let list = reader.sequence(restoreNode, what: "`restore-keys`") {
                for entry in list {
                    guard let text = reader.nonEmptyString(entry, what: "an entry of `restore-keys`") else { continue }
                    let (template, refs) = templates.parse(text, node: entry)
                    references += refs.map { ($0, .job(id: id, envVisible: jobEnv)) }
                    restoreKeys.append(template)
                }
            }
            caches.append(DependencyCache(key: key, paths: paths, restoreKeys: restoreKeys, location: reader.location(item)))
        }
        return caches
    }

    private func decodeWhen(_ node: YAMLNode) -> WhenRule? {
        guard let entries = reader.mapping(node, what: "`when`", allowed: Self.whenKeys) else { return nil }
        var rule = WhenRule()
        for entry in entries {
            switch entry.key {
            case "branches", "tags":
                let list = reader.stringList(entry.value, what: "`when.\(entry.key)`")
                if list?.isEmpty == true {
                    reader.error("`when.\(entry.key)` is empty: the job would never run", at: entry.value, hint: "list at least one pattern, or remove the key")
                }
                if entry.key == "branches" { rule.branches = list } else { rule.tags = list }
            case "changes": rule.changes = patterns(entry.value, what: "`when.changes`")
            case "manual": rule.manual = reader.bool(entry.value, what: "`when.manual`") ?? false
            default: break
            }
        }
        return rule
    }

    private func decodeArtifacts(_ node: YAMLNode) -> ArtifactSpec? {
        guard let entries = reader.mapping(node, what: "`artifacts`", allowed: Self.artifactKeys) else { return nil }
        var spec = ArtifactSpec(paths: [])
        var sawPaths = false
        for entry in entries {
            switch entry.key {
            case "paths":
                sawPaths = true
                spec.paths = patterns(entry.value, what: "`artifacts.paths`") ?? []
            case "expire":
                if let span = reader.duration(entry.value, what: "`artifacts.expire`") {
                    if span == .zero {
                        reader.error(
                            "`artifacts.expire` must be longer than 0", at: entry.value,
                            hint: "omit it to keep artifacts as long as their run is kept, or give a duration like `30d`")
                    } else {
                        spec.expire = span
                    }
                }
            default: break
            }
        }
        if !sawPaths {
            reader.error("`artifacts` has no `paths`", at: node, hint: "list the files to hand on, e.g. `paths: [\"dist/**\"]`")
            return nil
        }
        return spec.paths.isEmpty ? nil : spec
    }

    mutating func decodeStep(_ node: YAMLNode, jobID: String, jobEnv: Set<String>) -> Step? {
        if case .scalar = node {
            reader.error("a step must be a mapping with `run:`", at: node, hint: "write `- run: \(node.scalar?.string ?? "COMMAND")`")
            return nil
        }
        guard let entries = reader.mapping(node, what: "a step", allowed: Self.stepKeys) else { return nil }
        let fields = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var stepEnv: [EnvVar] = []
        if let e = fields["env"] { stepEnv = decodeEnv(e, what: "`env` of a step", scope: .job(id: jobID, envVisible: jobEnv)) }
        let visible = jobEnv.union(stepEnv.map(\.name))
        guard let runNode = fields["run"] else {
            reader.error("step has no `run`", at: node, hint: "add `run: COMMAND`")
            return nil
        }
        guard let script = reader.nonEmptyString(runNode, what: "`run`") else { return nil }
        let (run, refs) = templates.parse(script, node: runNode)
        references += refs.map { ($0, .job(id: jobID, envVisible: visible)) }
        var step = Step(run: run, location: reader.location(node), env: stepEnv)
        if let n = fields["name"] { step.name = reader.nonEmptyString(n, what: "`name`") }
        if let w = fields["working-directory"] {
            step.workingDirectory = decodePath(w, what: "`working-directory`", scope: .job(id: jobID, envVisible: visible))
        }
        if let t = fields["timeout"] { step.timeout = reader.timeout(t, what: "`timeout`") }
        if let s = fields["shell"] { step.shell = decodeShell(s) }
        if let d = fields["detach"] { step.detach = reader.bool(d, what: "`detach`") ?? false }
        return step
    }

    func decodeMatrix(_ node: YAMLNode) -> Matrix? {
        guard let entries = reader.mapping(node, what: "`matrix`") else { return nil }
        var axes: [Matrix.Axis] = []
        var exclude: [[String: String]] = []
        var excludeNode: YAMLNode?
        for entry in entries {
            if entry.key == "exclude" {
                excludeNode = entry.value
                continue
            }
            if entry.key == "include" {
                reader.error(
                    "`matrix.include` is not supported", at: entry.keyNode, hint: "add the extra combination as values of an axis, or as a separate job")
                continue
            }
            guard Self.isEnvName(entry.key.replacingOccurrences(of: "-", with: "_")), entry.key.first != "-" else {
                reader.error(
                    "`\(entry.key)` is not a valid matrix axis name", at: entry.keyNode, hint: "use letters, digits, `_` and `-`, starting with a letter or `_`"
                )
                continue
            }
            guard let items = reader.sequence(entry.value, what: "matrix axis `\(entry.key)`") else { continue }
            if items.isEmpty { reader.error("matrix axis `\(entry.key)` has no values", at: entry.value) }
            let values = items.compactMap { reader.scalar($0, what: "a value of matrix axis `\(entry.key)`") }
            axes.append(Matrix.Axis(name: entry.key, values: values, location: reader.location(entry.keyNode)))
        }
        if let excludeNode, let rules = reader.sequence(excludeNode, what: "`matrix.exclude`") {
            for rule in rules {
                guard let pairs = reader.mapping(rule, what: "an entry of `matrix.exclude`", allowed: axes.map(\.name)) else { continue }
                var map: [String: String] = [:]
                for pair in pairs {
                    if let v = reader.scalar(pair.value, what: "`\(pair.key)` in `matrix.exclude`") {
                        if let axis = axes.first(where: { $0.name == pair.key }), !axis.values.contains(v) {
                            reader.error("`\(v)` is not a value of matrix axis `\(pair.key)`", at: pair.value, hint: Suggest.hint(for: v, in: axis.values))
                        }
                        map[pair.key] = v
                    }
                }
                exclude.append(map)
            }
        }
        if axes.isEmpty {
            reader.error("`matrix` has no axes", at: node, hint: "write e.g. `matrix: { python: [\"3.11\", \"3.12\"] }`")
            return nil
        }
        let matrix = Matrix(axes: axes, exclude: exclude, location: reader.location(node))
        if !exclude.isEmpty, axes.allSatisfy({ !$0.values.isEmpty }), matrix.combinations().isEmpty {
            reader.error("`matrix.exclude` removes every combination", at: node)
        }
        if matrix.combinations().count > 256 {
            reader.error("`matrix` expands to \(matrix.combinations().count) jobs; the limit is 256", at: node)
        }
        return matrix
    }

    // MARK: - Cross-references

    /// Checks every `${{ }}` against what its scope can see: matrix axes of its job, env names of
    /// enclosing scopes, outputs of jobs the job needs (non-matrix).
    private func checkReferences(jobs: [JobDefinition], secrets: Set<String>) {
        let byID = Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (reference, scope) in references {
            let at = reference.location
            switch (reference.expression, scope) {
            case (.variable(let name), _):
                if secrets.contains(name) {
                    reader.error(
                        "`$\(name)` in an `env` value names a secret, which is not expanded there", at: at,
                        hint: "steps already have `\(name)` in their environment: write `\"$\(name)\"` in the script")
                } else if let key = Self.contextVariables[name] {
                    reader.error(
                        "`$\(name)` is set by shipgate for each step and is not available in `env` values", at: at,
                        hint: "write `${{ git.\(key) }}`, which is")
                } else if Self.stepVariables.contains(name) {
                    reader.error(
                        "`$\(name)` is set by shipgate for each step and is not available in `env` values", at: at,
                        hint: "use it in the script; to put a directory on PATH, have a step append it to \"$SHIPGATE_PATH\"")
                }
            case (.matrix(let key), .pipelineEnv):
                reader.error(
                    "`matrix.\(key)` is not available at the pipeline level (`env`, `defaults`)", at: at,
                    hint: "use it in a job's `env`, `working-directory` or steps")
            case (.env(let key), .pipelineEnv):
                reader.error("`env.\(key)` is not available at the pipeline level (`env`, `defaults`)", at: at, hint: "write the value directly")
            case (.git(let key), _):
                if !Interpolation.gitKeys.contains(key) {
                    reader.error(
                        "unknown git context `git.\(key)`", at: at,
                        hint: Suggest.hint(for: key, in: Interpolation.gitKeys) ?? "keys: \(Interpolation.gitKeys.joined(separator: ", "))")
                }
            case (.hashFiles, .pipelineEnv):
                reader.error("`hashFiles` is not available at the pipeline level (`env`, `defaults`)", at: at, hint: "use it in a job")
            case (.hashFiles(let patterns), .job):
                for pattern in patterns {
                    if let problem = Self.escapeProblem(pattern) { reader.error("`hashFiles` pattern `\(pattern)` \(problem)", at: at) }
                }
            case (.needsOutput, .pipelineEnv):
                reader.error("`needs` outputs are not available at the pipeline level (`env`, `defaults`)", at: at)
            case (.matrix(let key), .job(let id, _)):
                let axes = byID[id]?.matrix?.axes.map(\.name) ?? []
                if !axes.contains(key) {
                    reader.error(
                        axes.isEmpty ? "`matrix.\(key)` used in job `\(id)`, which has no matrix" : "unknown matrix axis `\(key)` in job `\(id)`",
                        at: at, hint: Suggest.hint(for: key, in: axes) ?? (axes.isEmpty ? nil : "axes: \(axes.joined(separator: ", "))"))
                }
            case (.env(let key), .job(_, let visible)):
                if !visible.contains(key) {
                    reader.error(
                        "unknown env `\(key)`", at: at,
                        hint: Suggest.hint(for: key, in: visible)
                            ?? "define it under `env:` of the pipeline, job or step; for the OS environment write `$\(key)` in the script")
                }
            case (.needsOutput(let job, _), .job(let id, _)):
                guard let me = byID[id] else { continue }
                let needs = me.needs?.map(\.value) ?? []
                if !needs.contains(job) {
                    reader.error(
                        "`needs.\(job).outputs` used in job `\(id)`, which does not list `\(job)` in `needs`", at: at,
                        hint: "add `\(job)` to `needs` of `\(id)`")
                } else if byID[job]?.matrix != nil {
                    reader.error(
                        "`needs.\(job).outputs` is ambiguous: `\(job)` is a matrix job", at: at, hint: "have a non-matrix job collect the outputs you need")
                }
            }
        }
    }
}
