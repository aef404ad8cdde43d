import ShipgateModel

/// Builds the `ExecutionPlan` for a pipeline: expands the graph, applies the job selection,
/// and resolves everything that is known before running.
///
/// Pure: reads nothing from the environment or the disk.
public enum Planner {
    public struct Options: Sendable {
        /// `--job` values: expanded ids (`unit (python=3.12)`) or declared ids (all variants).
        public var selectedJobs: [String]
        /// Values of `${{ git.KEY }}` (empty when there is no git context).
        public var git: [String: String]
        /// What `when:` rules decide on; nil: rules that need git run, with a note.
        public var rules: RuleInputs?
        /// `--no-deps`: only the selected jobs, not what they need (another runner ran that).
        public var withoutNeeds = false
        /// For a GitHub workflow: the event, contexts and runner mapping its jobs are decided on.
        public var workflow = WorkflowSettings()
        public init(selectedJobs: [String] = [], git: [String: String] = [:], rules: RuleInputs? = nil, withoutNeeds: Bool = false) {
            self.selectedJobs = selectedJobs
            self.git = git
            self.rules = rules
            self.withoutNeeds = withoutNeeds
        }
    }

    /// The plan, or the diagnostics that prevent one (graph errors, unknown `--job`).
    public static func plan(_ pipeline: Pipeline, options: Options = Options()) -> (ExecutionPlan?, [Diagnostic]) {
        let (graph, diagnostics) = JobGraph.build(pipeline)
        guard let graph else { return (nil, diagnostics) }

        var selectedRoots: [String] = []
        var problems: [Diagnostic] = []
        for wanted in options.selectedJobs {
            if graph.node(wanted) != nil {
                selectedRoots.append(wanted)
            } else if let def = pipeline.job(wanted) {
                selectedRoots += graph.nodes.filter { $0.definition.id == def.id }.map(\.id)
            } else {
                problems.append(
                    .error(
                        "no job `\(wanted)` in \(pipeline.file)", at: nil,
                        hint: Suggest.hint(for: wanted, in: graph.nodes.map(\.id) + pipeline.jobs.map(\.id))
                            ?? "jobs: \(pipeline.jobs.map(\.id).joined(separator: ", "))"))
            }
        }
        if problems.hasErrors { return (nil, diagnostics + problems) }
        let selected =
            options.selectedJobs.isEmpty
            ? Set(graph.nodes.map(\.id)) : (options.withoutNeeds ? Set(selectedRoots) : graph.closure(of: selectedRoots))
        let skipReason = "not selected (--job \(options.selectedJobs.joined(separator: ", "))\(options.withoutNeeds ? " --no-deps" : ""))"

        let waves = graph.waves(of: Set(graph.nodes.map(\.id)))
        let order = waves.flatMap { $0 }
        let git = options.git
        let pipelineEnv = pipeline.env.map { PlannedEnv(name: $0.name, value: resolveGit($0.value, git)) }
        var jobs: [PlannedJob] = []
        var ruleSkipped = Set<String>()
        let triggerSkip = pipeline.origin == .githubWorkflow ? TriggerFilter.skip(pipeline.triggers, settings: options.workflow) : nil
        for id in order {
            let node = graph.node(id)!
            let def = node.definition
            let steps = def.steps.map { plannedStep($0, job: def, matrix: node.matrix, pipelineEnv: pipelineEnv, defaults: pipeline.defaults, git: git) }
            let isSelected = selected.contains(id)
            var planned = PlannedJob(
                id: id, job: def.id, stage: def.stage, needs: node.needs, matrix: node.matrix,
                status: isSelected ? .run : .skip, reason: isSelected ? nil : skipReason,
                timeout: def.timeout ?? pipeline.defaults.timeout, retry: def.retry ?? pipeline.defaults.retry,
                continueOnError: def.continueOnError, steps: steps, location: def.location)
            planned.after = node.after
            planned.idleTimeout = def.idleTimeout ?? pipeline.defaults.idleTimeout
            planned.isolation = def.isolation ?? pipeline.defaults.isolation
            func matrixValues(_ text: String) -> String {
                node.matrix.reduce(text) { text, m in text.replacingOccurrences(of: "${{ matrix.\(m.axis) }}", with: m.value) }
            }
            planned.resourceGroup = def.resourceGroup.map { matrixValues($0.value) }
            for request in def.toolchain { planned.toolchain[request.tool] = matrixValues(request.version) }
            planned.needsFromStages = def.needs == nil && !node.needs.isEmpty
            if let github = def.github {
                let index = (def.matrix?.combinations() ?? [[]]).firstIndex(of: node.matrix) ?? 0
                applyWorkflow(&planned, github: github, variantIndex: index, triggerSkip: triggerSkip, settings: options.workflow)
                // A workflow job's `if:` decides at run time what a skipped need means.
                if planned.status == .skip && !(planned.reason ?? "").hasPrefix("not selected") { ruleSkipped.insert(id) }
            }
            // `when:` rules; a job skipped by a rule takes its dependents with it.
            if isSelected {
                // Only explicit `needs` carry a skip; stage order alone does not (a skipped job
                // is simply not part of the run).
                let skippedNeed = def.needs == nil ? nil : node.needs.first { ruleSkipped.contains($0) }
                if def.github != nil {
                    // Decided when the job is ready (its `if:` may run it after a skipped need).
                } else if let skippedNeed {
                    planned.status = .skip
                    planned.reason = "needs `\(skippedNeed)`, which is skipped"
                    ruleSkipped.insert(id)
                } else if let rule = def.when {
                    let explicit = options.selectedJobs.contains(id) || options.selectedJobs.contains(def.id)
                    let verdict = RuleEvaluator.evaluate(rule, job: def.id, explicitlySelected: explicit, inputs: options.rules)
                    if let skip = verdict.skip {
                        planned.status = .skip
                        planned.reason = skip
                        ruleSkipped.insert(id)
                    } else if !verdict.notes.isEmpty {
                        planned.reason = "runs: " + verdict.notes.joined(separator: "; ")
                    }
                }
            }
            // A deploy is never restored from the cache: it acts on the world, not on files.
            planned.cache = def.deploy == nil ? def.cache : nil
            if let d = def.deploy {
                let plan = { (step: Step) in plannedStep(step, job: def, matrix: node.matrix, pipelineEnv: pipelineEnv, defaults: pipeline.defaults, git: git) }
                planned.deploy = PlannedDeploy(
                    environment: d.environment.value,
                    verify: d.verify.map { check -> PlannedCheck in
                        switch check {
                        case .command(let step): return .command(plan(step))
                        case .http(var h):
                            h.url = resolveGit(h.url, git)
                            return .http(h)
                        }
                    },
                    rollback: d.rollback.map(plan))
            }
            planned.artifacts = def.artifacts
            planned.outputs = def.outputs.map(\.value)
            planned.junit = def.junit.map(\.value)
            let jobEnv = merge(
                pipelineEnv, def.env.map { PlannedEnv(name: $0.name, value: resolve(resolveGit($0.value, git), matrix: node.matrix, env: pipelineEnv)) })
            planned.env = jobEnv
            planned.dependencyCaches = def.caches.map { cache in
                var resolved = cache
                resolved.key = resolve(resolveGit(cache.key, git), matrix: node.matrix, env: jobEnv)
                resolved.restoreKeys = cache.restoreKeys.map { resolve(resolveGit($0, git), matrix: node.matrix, env: jobEnv) }
                resolved.paths = cache.paths.map { Located(cachePath($0.value, matrix: node.matrix), at: $0.location) }
                return resolved
            }
            jobs.append(planned)
        }
        let plan = ExecutionPlan(
            pipeline: .init(name: pipeline.name, file: pipeline.file, digest: pipeline.digest, origin: pipeline.origin),
            waves: graph.waves(of: selected.subtracting(ruleSkipped)), jobs: jobs, secrets: pipeline.secrets.map(\.value))
        return (plan, diagnostics)
    }

    private static func plannedStep(
        _ step: Step, job: JobDefinition, matrix: [MatrixValue], pipelineEnv: [PlannedEnv], defaults: Defaults, git: [String: String]
    ) -> PlannedStep {
        let jobEnv = merge(pipelineEnv, job.env.map { PlannedEnv(name: $0.name, value: resolve(resolveGit($0.value, git), matrix: matrix, env: pipelineEnv)) })
        let stepEnv = merge(jobEnv, step.env.map { PlannedEnv(name: $0.name, value: resolve(resolveGit($0.value, git), matrix: matrix, env: jobEnv)) })
        let resolveIn = { (t: Template, env: [PlannedEnv]) in Self.resolve(resolveGit(t, git), matrix: matrix, env: env) }
        // A step's own directory sees the step env; the job's sees the job env.
        let directory =
            step.workingDirectory.map { resolveIn($0, stepEnv) } ?? (job.workingDirectory ?? defaults.workingDirectory).map { resolveIn($0, jobEnv) }
        var planned = PlannedStep(
            name: step.displayName,
            script: resolveIn(step.run, stepEnv),
            shell: step.shell ?? job.shell ?? defaults.shell,
            workingDirectory: directory,
            env: stepEnv,
            timeout: step.timeout)
        planned.detach = step.detach
        planned.github = step.github
        return planned
    }

    /// Replaces `${{ git.KEY }}` with the run context (empty when unknown).
    static func resolveGit(_ template: Template, _ git: [String: String]) -> Template {
        template.resolving { e in
            if case .git(let key) = e { return git[key] ?? "" }
            return nil
        }
    }

    /// `inner` overrides `outer` by name; the result is sorted by name.
    static func merge(_ outer: [PlannedEnv], _ inner: [PlannedEnv]) -> [PlannedEnv] {
        var byName = Dictionary(outer.map { ($0.name, $0) }, uniquingKeysWith: { _, b in b })
        for e in inner { byName[e.name] = e }
        return byName.values.sorted { $0.name < $1.name }
    }

    /// Replaces matrix and env references; `needs` outputs stay for the executor.
    static func resolve(_ template: Template, matrix: [MatrixValue], env: [PlannedEnv]) -> Template {
        Template(
            segments: template.segments.flatMap { segment -> [Template.Segment] in
                guard case .expression(let e) = segment else { return [segment] }
                switch e {
                case .matrix(let key):
                    return [.literal(matrix.first { $0.axis == key }?.value ?? "")]
                case .env(let key):
                    return env.first { $0.name == key }?.value.segments ?? [.literal("")]
                case .needsOutput, .hashFiles, .git, .variable:
                    return [segment]
                }
            })
    }
}
