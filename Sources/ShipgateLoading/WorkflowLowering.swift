import ShipgateExpressions
import ShipgateModel
import ShipgateWorkflow

/// Turns a validated GitHub workflow into the model the engine runs: one `JobDefinition` per
/// workflow job, its matrix expanded by GitHub's rules, every expression kept as written in
/// `GitHubJob` / `GitHubStep` for the engine to evaluate when the job runs.
///
/// Runs only after `WorkflowDecoder` found no error; what it still finds (an `env` that is not
/// a mapping, a `with` value that is a list) it reports through the same reader. A job the host
/// cannot run (a container, services, an action shipgate does not run, a reusable workflow)
/// is kept with its `refusal`, so `plan` shows it and `run` skips it saying why.
struct WorkflowLowering {
    let reader: NodeReader
    let workflow: Workflow
    let actions: CompositeActionLoader
    /// 0 for the workflow run; 1 for a workflow it calls (which may not call others yet).
    var depth = 0

    func pipeline(_ root: YAMLNode, digest: String) -> Pipeline {
        let top = pairs(root)
        let name = workflow.name ?? baseName(reader.file)
        var pipeline = Pipeline(
            name: name, file: reader.file, digest: digest, env: [], defaults: .standard, stages: [], secrets: secretNames(root),
            jobs: [])
        pipeline.defaults.timeout = .minutes(360)
        pipeline.defaults.shell = .bash
        pipeline.origin = .githubWorkflow
        pipeline.triggers = top["on"].map(triggers) ?? []
        let workflowEnv = top["env"].map { named($0, what: "`env` of the workflow") } ?? []
        let workflowDefaults: (shell: String?, directory: String?) = top["defaults"].map(runDefaults) ?? (nil, nil)
        let declared = Dictionary(workflow.jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        guard let jobsNode = top["jobs"], case .mapping(let jobs) = jobsNode else { return pipeline }
        for pair in jobs.pairs {
            guard let id = pair.key.scalar?.string, let job = declared[id] else { continue }
            let lowered = lowerJob(job, keyNode: pair.key, node: pair.value, workflowEnv: workflowEnv, defaults: workflowDefaults)
            if let uses = job.uses, lowered.github?.refusal == nil, let called = call(uses, caller: lowered, node: pair.value, pipeline: &pipeline) {
                pipeline.jobs += called
            } else {
                pipeline.jobs.append(lowered)
            }
        }
        return pipeline
    }

    private func lowerJob(
        _ job: Workflow.Job, keyNode: YAMLNode, node: YAMLNode, workflowEnv: [NamedText], defaults: (shell: String?, directory: String?)
    ) -> JobDefinition {
        let fields = pairs(node)
        var github = GitHubJob()
        github.condition = fields["if"].map(text) ?? ""
        github.name = fields["name"].map(text)
        github.runsOn = job.runsOn ?? []
        github.workflowEnv = workflowEnv
        github.env = fields["env"].map { named($0, what: "`env` of job `\(job.id)`") } ?? []
        github.outputs = fields["outputs"].map { named($0, what: "`outputs` of job `\(job.id)`") } ?? []
        github.continueOnError = fields["continue-on-error"].map(text)
        github.timeoutMinutes = fields["timeout-minutes"].map(text)
        let jobDefaults: (shell: String?, directory: String?) = fields["defaults"].map(runDefaults) ?? (nil, nil)
        github.defaultShell = jobDefaults.shell ?? defaults.shell
        github.defaultWorkingDirectory = jobDefaults.directory ?? defaults.directory
        if let environment = fields["environment"] {
            github.environment = environment.scalar?.string ?? pairs(environment)["name"].map(text)
        }

        var matrix: ShipgateModel.Matrix?
        if let strategy = fields["strategy"] {
            let s = pairs(strategy)
            if let failFast = s["fail-fast"].map(text) { github.failFast = failFast.lowercased() != "false" }
            if let max = s["max-parallel"].map(text), let n = Int(max), n > 0 { github.maxParallel = n }
            if let matrixNode = s["matrix"] {
                if let variants = job.variants ?? evaluatedMatrix(matrixNode) {
                    matrix = ShipgateModel.Matrix(axes: [], location: reader.location(matrixNode))
                    matrix!.variants = variants.map { combination in
                        combination.values.map { MatrixValue(axis: $0.key, value: Self.label($0.value), json: Self.json($0.value)) }
                    }
                    github.variantCount = variants.count
                } else {
                    github.refusal =
                        "\(reader.location(matrixNode)): its matrix comes from an expression known only when the run starts (`\(Self.firstExpression(matrixNode) ?? text(matrixNode))`); "
                        + "shipgate expands a matrix before the run: write the values out"
                }
            }
        }
        if let uses = job.uses {
            if github.refusal != nil {
                // The matrix already says why.
            } else if depth > 0 {
                github.refusal =
                    "\(reader.location(fields["uses"]!)): a called workflow calls another (`\(uses)`); shipgate runs one level of reusable workflows"
            } else if case .local = NativeAction.kind(of: uses) {
                if matrix != nil {
                    github.refusal =
                        "\(reader.location(fields["strategy"]!)): a matrix of reusable workflow calls is not run yet; call the workflow once per value"
                }
            } else {
                github.refusal =
                    "\(reader.location(fields["uses"]!)): calls the reusable workflow `\(uses)` of another repository, which shipgate does not fetch yet; "
                    + "run that workflow's file in its own repository"
            }
            if github.refusal == nil {
                var call = WorkflowCall(caller: job.id, uses: uses)
                call.with = fields["with"].map { named($0, what: "`with` of job `\(job.id)`") } ?? []
                if let secrets = fields["secrets"] {
                    if secrets.scalar?.string == "inherit" {
                        call.inheritSecrets = true
                    } else {
                        call.secrets = named(secrets, what: "`secrets` of job `\(job.id)`")
                    }
                }
                call.condition = github.condition
                call.needs = job.needs
                github.call = call
            }
        } else if let container = fields["container"] {
            github.refusal =
                "\(reader.location(container)): runs in the container `\(container.scalar?.string ?? pairs(container)["image"].map(text) ?? "…")`; "
                + "shipgate runs jobs on the host, without containers: remove `container:` to run the steps here"
        } else if let services = fields["services"] {
            github.services = lowerServices(services)
        }

        var steps: [Step] = []
        if let stepsNode = fields["steps"], case .sequence(let list) = stepsNode {
            for (index, item) in list.items.enumerated() {
                var step = lowerStep(item, index: index, job: job.id)
                if let uses = step.github?.uses {
                    var why = Self.refusal(uses: uses)
                    if why == nil, case .local = NativeAction.kind(of: uses) {
                        switch actions.load(uses) {
                        case .action(let composite): step.github?.composite = composite
                        case .refused(let reason): why = reason
                        }
                    }
                    if github.refusal == nil, let why {
                        github.refusal = "\(reader.location(item)): step \(index + 1) (`uses: \(uses)`): \(why)"
                    }
                }
                steps.append(step)
            }
        }
        var definition = JobDefinition(
            id: job.id, location: reader.location(keyNode), needs: job.needs.map { Located($0, at: reader.location(keyNode)) }, matrix: matrix,
            steps: steps)
        definition.github = github
        return definition
    }

    /// The jobs of the workflow a job calls (`uses: ./.github/workflows/x.yml` or `$/…`), as
    /// `caller/job`, and the job standing for the call (id `caller`, collecting their results
    /// and `on.workflow_call.outputs`). Nil, with the caller's refusal set, when the called file
    /// cannot be run (missing, invalid, not `workflow_call`).
    private func call(_ uses: String, caller: JobDefinition, node: YAMLNode, pipeline: inout Pipeline) -> [JobDefinition]? {
        var refused = caller
        func refuse(_ why: String) -> [JobDefinition] {
            refused.github?.refusal = "\(reader.location(pairs(node)["uses"] ?? node)): `uses: \(uses)`: \(why)"
            return [refused]
        }
        guard let call = caller.github?.call else { return nil }
        guard let (path, committed) = CompositeActionLoader.directory(of: uses) else { return refuse("leaves the repository") }
        guard path.hasPrefix(".github/workflows/") else { return refuse("a reusable workflow must be in .github/workflows/ (as GitHub requires)") }
        guard let bytes = actions.source.read(path, committed: committed) else {
            return refuse("no such file\(committed ? " at the running commit (commit it first)" : "")")
        }
        let (document, syntax) = YAMLDocument.parse(bytes: bytes, file: path)
        reader.diagnostics += syntax
        guard let document else { return refuse("\(path) cannot be read as YAML") }
        let calledReader = NodeReader(file: path)
        let calledWorkflow = WorkflowDecoder(reader: calledReader).decode(document.root)
        defer { reader.diagnostics += calledReader.diagnostics }
        guard !calledReader.diagnostics.hasErrors else { return refuse("\(path) is not a valid workflow (see its errors)") }
        var nested = WorkflowLowering(reader: calledReader, workflow: calledWorkflow, actions: actions)
        nested.depth = depth + 1
        let called = nested.pipeline(document.root, digest: "")
        guard let trigger = called.triggers.first(where: { $0.event == "workflow_call" }) else {
            return refuse("\(path) has no `on: workflow_call`, so it cannot be called")
        }
        var call2 = call
        call2.inputs = trigger.inputs
        let given = Set(call.with.map(\.name))
        for input in trigger.inputs where input.required && input.defaultJSON == nil && !given.contains(input.name) {
            reader.error("job `\(caller.id)` does not pass the input `\(input.name)` that \(path) requires", at: pairs(node)["uses"] ?? node)
        }
        for name in given.subtracting(trigger.inputs.map(\.name)).sorted() {
            let declared = trigger.inputs.isEmpty ? "it declares no inputs" : "it declares: \(trigger.inputs.map(\.name).joined(separator: ", "))"
            reader.error("\(path) has no input `\(name)` (\(declared))", at: pairs(node)["with"] ?? node)
        }
        // Secrets: a required one must be passed (or inherited), and only declared ones may be.
        if !call.inheritSecrets {
            let passed = Set(call.secrets.map(\.name))
            for secret in trigger.secrets where secret.required && !passed.contains(secret.name) {
                reader.error("job `\(caller.id)` does not pass the secret `\(secret.name)` that \(path) requires", at: pairs(node)["uses"] ?? node)
            }
            for name in passed.subtracting(trigger.secrets.map(\.name)).sorted() {
                let declared = trigger.secrets.isEmpty ? "it declares no secrets" : "it declares: \(trigger.secrets.map(\.name).joined(separator: ", "))"
                reader.error("\(path) has no secret `\(name)` (\(declared))", at: pairs(node)["secrets"] ?? node)
            }
        }
        if call.inheritSecrets {
            let known = Set(pipeline.secrets.map(\.value))
            pipeline.secrets += called.secrets.filter { !known.contains($0.value) }
        }
        var jobs: [JobDefinition] = []
        let prefix = caller.id + "/"
        for var job in called.jobs {
            job.id = prefix + job.id
            job.needs = (job.needs ?? []).map { Located(prefix + $0.value, at: $0.location) } + (caller.needs ?? [])
            job.github?.call = call2
            jobs.append(job)
        }
        // The job standing for the call: what `needs.<caller>` sees.
        var standIn = caller
        standIn.steps = []
        standIn.needs = called.jobs.map { Located(prefix + $0.id, at: caller.location) }
        var github = caller.github ?? GitHubJob()
        github.call = nil
        github.condition = "always()"
        github.collects = called.jobs.map { prefix + $0.id }
        github.outputs = callOutputs(document.root, reader: calledReader)
        standIn.github = github
        jobs.append(standIn)
        return jobs
    }

    /// `on.workflow_call.outputs.<name>.value` of a called workflow.
    private func callOutputs(_ root: YAMLNode, reader: NodeReader) -> [NamedText] {
        guard let on = pairs(root)["on"], let call = pairs(on)["workflow_call"], let outputs = pairs(call)["outputs"], case .mapping(let map) = outputs else {
            return []
        }
        return map.pairs.compactMap { pair in
            guard let name = pair.key.scalar?.string, let value = pairs(pair.value)["value"], case .scalar(let s) = value else { return nil }
            return NamedText(name: name, text: s.string, location: reader.location(value))
        }
    }

    private func lowerStep(_ node: YAMLNode, index: Int, job: String) -> Step {
        let fields = pairs(node)
        var github = GitHubStep()
        github.id = fields["id"].map(text)
        github.name = fields["name"].map(text)
        github.condition = fields["if"].map(text) ?? ""
        github.run = fields["run"].map(text)
        github.uses = fields["uses"].map(text)
        github.with = fields["with"].map { named($0, what: "`with` of a step of job `\(job)`") } ?? []
        github.env = fields["env"].map { named($0, what: "`env` of a step of job `\(job)`") } ?? []
        github.shell = fields["shell"].map(text)
        github.workingDirectory = fields["working-directory"].map(text)
        github.continueOnError = fields["continue-on-error"].map(text)
        github.timeoutMinutes = fields["timeout-minutes"].map(text)
        let name = fields["name"].map(text) ?? WorkflowStepNames.defaultName(github)
        var step = Step(name: name, run: Template(segments: [.literal(github.run ?? "uses: \(github.uses ?? "")")]), location: reader.location(node))
        step.github = github
        return step
    }

    /// Why shipgate cannot run the action a step uses, or nil when it can.
    static func refusal(uses: String) -> String? {
        switch NativeAction.kind(of: uses) {
        case .native, .local: return nil
        case .docker:
            return "Docker container actions need Docker, which shipgate does not use; replace the step with a `run:` command"
        case .repository(let uses):
            // Fetched by the run (`ActionRepositories`) and read then; only the form is checked here.
            return RemoteAction.parse(uses) == nil ? "`uses: \(uses)` is not `owner/repo[/path]@ref`" : nil
        case .malformed:
            return "`uses` must be `owner/repo@ref`, `owner/repo/path@ref`, `./path` or `docker://image`"
        }
    }

    /// `services:`: each `id: {image, env, ports, options}` (or `id: image`); `credentials` and
    /// `volumes` are container matters and are ignored with a warning.
    private func lowerServices(_ node: YAMLNode) -> [WorkflowService] {
        guard case .mapping(let map) = node else { return [] }
        var out: [WorkflowService] = []
        for pair in map.pairs {
            guard let id = pair.key.scalar?.string else { continue }
            let location = reader.location(pair.value)
            if let image = pair.value.scalar?.string {
                out.append(WorkflowService(id: id, image: image, env: [], ports: [], options: nil, location: location))
                continue
            }
            let f = pairs(pair.value)
            for key in ["volumes", "credentials"] where f[key] != nil {
                reader.warning("service `\(id)`: `\(key)` is ignored: shipgate starts services as local processes, not containers", at: f[key]!)
            }
            var ports: [String] = []
            if let p = f["ports"], case .sequence(let list) = p { ports = list.items.compactMap { $0.scalar?.string } }
            out.append(
                WorkflowService(
                    id: id, image: f["image"].map(text) ?? "", env: f["env"].map { named($0, what: "`env` of service `\(id)`") } ?? [], ports: ports,
                    options: f["options"].map(text), location: location))
        }
        return out
    }

    /// The first scalar holding `${{` in a node (a matrix written as `{ python: ${{ … }} }`).
    static func firstExpression(_ node: YAMLNode) -> String? {
        switch node {
        case .scalar(let s): return s.string.contains("${{") ? s.string : nil
        case .sequence(let list): return list.items.lazy.compactMap(firstExpression).first
        case .mapping(let map): return map.pairs.lazy.compactMap { firstExpression($0.value) }.first
        }
    }

    // MARK: - Values

    private func pairs(_ node: YAMLNode) -> [String: YAMLNode] {
        guard case .mapping(let map) = node else { return [:] }
        var out: [String: YAMLNode] = [:]
        for pair in map.pairs { if let key = pair.key.scalar?.string, out[key] == nil { out[key] = pair.value } }
        return out
    }

    /// A scalar's text as GitHub reads it (a YAML `true` is the text `true`).
    private func text(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let s): return s.string
        case .sequence(let list): return list.items.map(text).joined(separator: "\n")
        case .mapping: return ""
        }
    }

    private func named(_ node: YAMLNode, what: String) -> [NamedText] {
        if case .scalar(let s) = node, s.string.hasExpressionMarker {
            reader.error("\(what) as one expression (`\(s.string)`) is not supported; write the entries out", at: node)
            return []
        }
        guard case .mapping(let map) = node else {
            reader.error("\(what) must be a mapping, got \(NodeReader.kind(node))", at: node)
            return []
        }
        var out: [NamedText] = []
        for pair in map.pairs {
            guard let key = pair.key.scalar?.string else { continue }
            guard case .scalar(let value) = pair.value else {
                reader.error("\(what): `\(key)` must be a string, got \(NodeReader.kind(pair.value))", at: pair.value)
                continue
            }
            let isNull = value.style == .plain && ["~", "null", "Null", "NULL"].contains(value.string)
            out.append(NamedText(name: key, text: isNull ? "" : value.string, location: reader.location(pair.value)))
        }
        return out
    }

    private func runDefaults(_ node: YAMLNode) -> (shell: String?, directory: String?) {
        guard let run = pairs(node)["run"] else { return (nil, nil) }
        let fields = pairs(run)
        return (fields["shell"].map(text), fields["working-directory"].map(text))
    }

    /// A matrix given as an expression that needs no context (`${{ fromJSON('{…}') }}`).
    private func evaluatedMatrix(_ node: YAMLNode) -> [ShipgateWorkflow.Matrix.Combination]? {
        guard case .scalar(let s) = node, let template = try? ExpressionTemplate.parse(s.string),
            let value = try? template.evaluate(in: ExpressionScope(contexts: ExpressionObject([])))
        else { return nil }
        return try? ShipgateWorkflow.Matrix.expand(value)
    }

    /// A matrix value as job ids show it: its text, or compact JSON for a list or an object.
    static func label(_ value: ExpressionValue) -> String {
        switch value {
        case .array, .object: value.json.split(separator: "\n").map { $0.drop { $0 == " " } }.joined()
        default: value.text
        }
    }

    static func json(_ value: ExpressionValue) -> String? {
        if case .string = value { return nil }
        return value.json
    }

    private func baseName(_ path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        return last.hasSuffix(".yml") || last.hasSuffix(".yaml") ? String(last[..<last.lastIndex(of: ".")!]) : last
    }

    // MARK: - Triggers and secrets

    private func triggers(_ node: YAMLNode) -> [WorkflowTrigger] {
        switch node {
        case .scalar(let s): return [WorkflowTrigger(event: s.string, location: reader.location(node))]
        case .sequence(let list): return list.items.compactMap { $0.scalar.map { WorkflowTrigger(event: $0.string, location: reader.location(node)) } }
        case .mapping(let map):
            return map.pairs.compactMap { pair in
                guard let event = pair.key.scalar?.string else { return nil }
                var trigger = WorkflowTrigger(event: event, location: reader.location(pair.key))
                let f = pairs(pair.value)
                func list(_ key: String) -> [String]? {
                    guard let n = f[key] else { return nil }
                    if case .sequence(let l) = n { return l.items.map(text) }
                    return [text(n)]
                }
                trigger.branches = list("branches")
                trigger.branchesIgnore = list("branches-ignore")
                trigger.tags = list("tags")
                trigger.tagsIgnore = list("tags-ignore")
                trigger.paths = list("paths")
                trigger.pathsIgnore = list("paths-ignore")
                if let inputs = f["inputs"], case .mapping(let m) = inputs {
                    for input in m.pairs {
                        guard let name = input.key.scalar?.string else { continue }
                        let spec = pairs(input.value)
                        let type = spec["type"].map(text) ?? "string"
                        // A default with `${{ }}` is kept as its text, evaluated when the input is read.
                        let defaultValue = spec["default"].flatMap { node in WorkflowDecoder.value(node) ?? node.scalar.map { .string($0.string) } }
                        let defaultJSON = defaultValue.map { value -> String in
                            // A boolean input's default may be written as a string.
                            if type == "boolean", case .string(let s) = value { return s.lowercased() == "true" ? "true" : "false" }
                            if type == "number", case .string(let s) = value { return ExpressionValue.number(ExpressionValue.parseNumber(s)).json }
                            return value.json
                        }
                        trigger.inputs.append(
                            WorkflowInput(name: name, type: type, required: spec["required"].map(text)?.lowercased() == "true", defaultJSON: defaultJSON))
                    }
                }
                if let secrets = f["secrets"], case .mapping(let m) = secrets {
                    for secret in m.pairs {
                        guard let name = secret.key.scalar?.string else { continue }
                        let required = pairs(secret.value)["required"].map(text)?.lowercased() == "true"
                        trigger.secrets.append(WorkflowInput(name: name, type: "secret", required: required, defaultJSON: nil))
                    }
                }
                return trigger
            }
        }
    }

    /// Every `secrets.NAME` the workflow's expressions read: the secrets the run asks for.
    private func secretNames(_ root: YAMLNode) -> [Located<String>] {
        var found: [String: SourceLocation] = [:]
        func scan(_ node: YAMLNode, isCondition: Bool) {
            switch node {
            case .scalar(let s):
                guard s.string.contains(literal: "secrets") else { return }
                var expressions: [ShipgateExpressions.Expression] = []
                if isCondition, let c = try? IfCondition.parse(s.string) {
                    expressions = [c.expression]
                } else if let t = try? ExpressionTemplate.parse(s.string) {
                    expressions = t.expressions
                }
                for e in expressions {
                    e.visit { sub in
                        // `secrets.NAME` and `secrets['NAME']`; names are case-insensitive (GitHub
                        // stores them upper-case).
                        var name: String?
                        if case .property(.context(let context), let n) = sub, context.lowercased() == "secrets" { name = n }
                        if case .index(.context(let context), .literal(.string(let n))) = sub, context.lowercased() == "secrets" { name = n }
                        if let name = name?.uppercased(), name != "GITHUB_TOKEN", found[name] == nil { found[name] = reader.location(node) }
                    }
                }
            case .sequence(let list): list.items.forEach { scan($0, isCondition: false) }
            case .mapping(let map): map.pairs.forEach { scan($0.value, isCondition: $0.key.scalar?.string == "if") }
            }
        }
        scan(root, isCondition: false)
        return found.sorted { $0.key < $1.key }.map { Located($0.key, at: $0.value) }
    }
}
