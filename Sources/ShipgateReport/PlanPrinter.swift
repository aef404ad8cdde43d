import ShipgateEngine
import ShipgateModel
import ShipgatePlanning

/// `shipgate plan` output: human text, and the documented `--json` document.
///
/// Scripts are shown after interpolation; `${{ needs.… }}` parts stay visible because they
/// are only known at run time. Everything passes through the masker.
public enum PlanPrinter {
    /// An action of another repository the plan's running jobs fetch and execute.
    public struct FetchedActionNote: Sendable {
        public var uses: String
        public var pinned: Bool
        /// The commit the action cache resolves the ref to now, nil: not cached (fetched by the run).
        public var cachedCommit: String?
        public var source: String

        public init(uses: String, pinned: Bool, cachedCommit: String?, source: String) {
            self.uses = uses
            self.pinned = pinned
            self.cachedCommit = cachedCommit
            self.source = source
        }
    }

    public static func text(_ plan: ExecutionPlan, style: Style, masker: SecretMasker = .none, actions: [FetchedActionNote] = []) -> String {
        var out = style.bold("Plan for \(plan.pipeline.name)") + style.dim(" (\(plan.pipeline.file), \(plan.pipeline.digest.prefix(19))…)") + "\n"
        let runCount = plan.jobs.filter { $0.status == .run }.count
        let cachedCount = plan.jobs.filter { $0.status == .cached }.count
        out += "\(runCount) job\(runCount == 1 ? "" : "s") to run"
        if cachedCount > 0 { out += ", \(cachedCount) cached" }
        out += " in \(plan.waves.count) wave\(plan.waves.count == 1 ? "" : "s")"
        let skipCount = plan.jobs.filter { $0.status == .skip }.count
        if skipCount > 0 { out += ", \(skipCount) skipped" }
        out += "\n"
        let byID = Dictionary(plan.jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (n, wave) in plan.waves.enumerated() {
            out += "\n" + style.bold("Wave \(n + 1)") + style.dim(wave.count > 1 ? " (\(wave.count) jobs in parallel)" : "") + "\n"
            for id in wave {
                guard let job = byID[id] else { continue }
                out += describe(job, style: style, masker: masker)
            }
        }
        let skipped = plan.jobs.filter { $0.status == .skip }
        if !skipped.isEmpty {
            out += "\n" + style.bold("Skipped") + "\n"
            for job in skipped { out += "  \(style.dim("-")) \(job.id): \(job.reason ?? "")\n" }
        }
        if !actions.isEmpty {
            // An action is code from another repository: every one the run executes is named.
            out += "\n" + style.bold("Actions fetched and executed") + style.dim(" (from \(actions[0].source))") + "\n"
            for a in actions {
                let pin =
                    a.pinned
                    ? "pinned to a commit"
                    : style.yellow("not pinned") + style.dim(" (a tag or branch can move; pin it to a SHA, or refuse it with --require-pinned)")
                let cache = a.cachedCommit.map { "cached at \($0.prefix(12))" } ?? "not cached: fetched when the run starts"
                out += "  \(style.dim("-")) \(a.uses): " + pin + style.dim("; \(cache)") + "\n"
            }
        }
        return out
    }

    private static func describe(_ job: PlannedJob, style: Style, masker: SecretMasker) -> String {
        let label = job.status == .cached ? style.cyan("cached") : job.status == .blocked ? style.magenta("blocked") : style.green("run")
        var out = "  " + label + " \(style.bold(job.id))"
        var facts: [String] = []
        if let stage = job.stage { facts.append("stage \(stage)") }
        facts.append(job.needs.isEmpty ? "needs nothing" : "needs \(job.needs.joined(separator: ", "))")
        if !job.after.isEmpty { facts.append("after \(job.after.joined(separator: ", "))") }
        facts.append("timeout \(job.timeout)")
        if let idle = job.idleTimeout { facts.append("idle-timeout \(idle)") }
        if job.retry.attempts > 1 { facts.append("retry \(job.retry.attempts)× from \(job.retry.backoff) (max \(job.retry.maxBackoff))") }
        if job.continueOnError { facts.append("continue-on-error") }
        if !job.isolation.privateParts.isEmpty { facts.append("private \(job.isolation.privateParts.joined(separator: ", "))") }
        if let group = job.resourceGroup { facts.append("resource-group \(group)") }
        if !job.toolchain.isEmpty { facts.append(job.toolchain.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
        if job.runsAlone { facts.append("runs alone") }
        if let d = job.deploy { facts.append("deploys to \(d.environment)") }
        if let github = job.github {
            if let call = github.call {
                facts.append("called by \(call.caller) (\(call.uses))")
                if !call.condition.isEmpty { facts.append("if (\(call.caller)): \(masker(call.condition))") }
            }
            if let collected = github.collects {
                facts.append("stands for the call: \(collected.count) job\(collected.count == 1 ? "" : "s"), and their outputs")
            }
            if !github.condition.isEmpty && github.collects == nil { facts.append("if: \(masker(github.condition))") }
            if let name = job.displayName, name != job.id { facts.append("name \(masker(name))") }
        }
        out += style.dim("  " + facts.joined(separator: " · ")) + "\n"
        if let gate = job.gate {
            out +=
                "      " + (gate.passed ? style.green("gate \(gate.environment): would pass now") : style.magenta("gate \(gate.environment): would block now"))
                + "\n"
            for rule in gate.rules { out += "        " + (rule.passed ? style.green("✓") : style.red("✗")) + " \(rule.rule): \(rule.detail)\n" }
            if let note = gate.policyNote { out += "        " + style.yellow(note) + "\n" }
            for hint in gate.hints { out += "        " + style.cyan("→ " + hint) + "\n" }
        }
        if let reason = job.reason { out += "      " + (job.status == .cached ? style.cyan(reason) : style.yellow(reason)) + "\n" }
        if job.status == .cached { return out }
        if let d = job.deploy, !d.verify.isEmpty || !d.rollback.isEmpty {
            out +=
                style.dim(
                    "      then verify: \(d.verify.map { masker($0.name) }.joined(separator: "; ")); on failure: \(d.rollback.count) rollback step\(d.rollback.count == 1 ? "" : "s")"
                ) + "\n"
        }
        for (i, step) in job.steps.enumerated() {
            if let github = step.github {
                out += workflowStep(github, name: step.name, index: i, job: job, style: style, masker: masker)
                continue
            }
            var lines = masker(step.script.description).split(separator: "\n", omittingEmptySubsequences: false)
            while lines.count > 1, lines.last?.allSatisfy(\.isWhitespace) == true { lines.removeLast() }
            // Unnamed steps are called by their first line: print it once.
            let named = !(lines.first.map { step.name == String($0) || step.name.hasSuffix("...") && $0.hasPrefix(step.name.dropLast(3)) } ?? false)
            var head = "      \(i + 1). " + (named ? masker(step.name) : style.dim("$ ") + (lines.first.map(String.init) ?? ""))
            var extra: [String] = []
            if step.shell != .sh { extra.append(step.shell.rawValue) }
            if let dir = step.workingDirectory { extra.append("in \(dir)") }
            if let t = step.timeout { extra.append("timeout \(t)") }
            if step.detach { extra.append("detach") }
            if !extra.isEmpty { head += style.dim(" (\(extra.joined(separator: ", ")))") }
            out += head + "\n"
            for line in lines.dropFirst(named ? 0 : 1) {
                out += "         " + style.dim(named ? "$ " : "  ") + line + "\n"
            }
        }
        return out
    }

    /// A workflow step: its name, `if:`, shell or what a native action does instead, its script.
    private static func workflowStep(_ step: GitHubStep, name: String, index: Int, job: PlannedJob, style: Style, masker: SecretMasker) -> String {
        var extra: [String] = []
        if !step.condition.isEmpty { extra.append("if: \(masker(step.condition))") }
        if let uses = step.uses {
            if let native = NativeAction(uses: uses) {
                extra.append(native.summary)
            } else if let local = step.composite {
                extra.append(local.javascript.map { "JavaScript action (`\($0.using)`) of this repository" } ?? "composite action of this repository")
            } else if case .repository = NativeAction.kind(of: uses) {
                extra.append(FetchedActions.isPinned(uses) ? "fetched: pinned to a commit" : "fetched: not pinned")
            } else {
                extra.append("not run by shipgate")
            }
        } else {
            extra.append(step.shell ?? job.github?.defaultShell ?? "bash")
        }
        if let dir = step.workingDirectory ?? (step.run != nil ? job.github?.defaultWorkingDirectory : nil) { extra.append("in \(dir)") }
        if let c = step.continueOnError, c != "false" { extra.append(c == "true" ? "continue-on-error" : "continue-on-error: \(c)") }
        if let t = step.timeoutMinutes { extra.append("timeout-minutes \(t)") }
        var out = "      \(index + 1). \(masker(name))" + style.dim(" (\(extra.joined(separator: ", ")))") + "\n"
        if let uses = step.uses {
            out += "         " + style.dim("uses: ") + masker(uses) + "\n"
            for input in step.with { out += "         " + style.dim("  \(input.name): ") + masker(input.text.replacing("\n", with: " ")) + "\n" }
        } else {
            var lines = masker(step.run ?? "").split(separator: "\n", omittingEmptySubsequences: false)
            while lines.count > 1, lines.last?.allSatisfy(\.isWhitespace) == true { lines.removeLast() }
            for line in lines { out += "         " + style.dim("$ ") + line + "\n" }
        }
        return out
    }

    private static func actionsJSON(_ actions: [FetchedActionNote]) -> String {
        guard !actions.isEmpty else { return "" }
        let items = actions.map { a -> String in
            var o = JSONObject()
            o.add("uses", a.uses)
            o.add("pinned", a.pinned)
            o.add("cachedCommit", a.cachedCommit)
            o.add("source", a.source)
            return o.text
        }
        return "\n  \"actions\": [" + items.joined(separator: ",") + "],"
    }

    /// The `plan --json` document (schemaVersion 1), keys in documented order, one job per line.
    public static func json(_ plan: ExecutionPlan, masker: SecretMasker = .none, actions: [FetchedActionNote] = []) -> String {
        var p = JSONObject()
        p.add("name", plan.pipeline.name)
        p.add("file", plan.pipeline.file)
        p.add("digest", plan.pipeline.digest)
        let jobs = plan.jobs.map { job -> String in
            var o = JSONObject()
            o.add("id", job.id)
            o.add("job", job.job)
            o.add("stage", job.stage)
            o.add("needs", raw: JSONObject.array(job.needs))
            if !job.after.isEmpty { o.add("after", raw: JSONObject.array(job.after)) }
            var m = JSONObject()
            for v in job.matrix { m.add(v.axis, v.value) }
            o.add("matrix", raw: m.text)
            o.add("status", job.status.rawValue)
            o.add("reason", job.reason)
            o.add("cacheKey", job.cacheKey)
            o.add("timeoutMs", job.timeout.milliseconds)
            if let idle = job.idleTimeout { o.add("idleTimeoutMs", idle.milliseconds) }
            var r = JSONObject()
            r.add("attempts", job.retry.attempts)
            r.add("backoffMs", job.retry.backoff.milliseconds)
            r.add("maxBackoffMs", job.retry.maxBackoff.milliseconds)
            o.add("retry", raw: r.text)
            o.add("continueOnError", job.continueOnError)
            if !job.isolation.privateParts.isEmpty { o.add("private", raw: JSONObject.array(job.isolation.privateParts)) }
            if let group = job.resourceGroup { o.add("resourceGroup", group) }
            if !job.toolchain.isEmpty {
                var t = JSONObject()
                for (tool, version) in job.toolchain.sorted(by: { $0.key < $1.key }) { t.add(tool, version) }
                o.add("toolchain", raw: t.text)
            }
            if let d = job.deploy {
                o.add("environment", d.environment)
                o.add("verify", raw: JSONObject.array(d.verify.map { masker($0.name) }))
                o.add("rollback", raw: JSONObject.array(d.rollback.map { masker($0.name) }))
            }
            if let gate = job.gate {
                var g = JSONObject()
                g.add("environment", gate.environment)
                g.add("passed", gate.passed)
                let rules = gate.rules.map { r -> String in
                    var x = JSONObject()
                    x.add("rule", r.rule)
                    x.add("passed", r.passed)
                    x.add("detail", r.detail)
                    return x.text
                }
                g.add("rules", raw: "[" + rules.joined(separator: ",") + "]")
                g.add("hints", raw: JSONObject.array(gate.hints))
                g.add("policyNote", gate.policyNote)
                o.add("gate", raw: g.text)
            }
            if let github = job.github {
                o.add("if", github.condition.isEmpty ? nil : masker(github.condition))
                o.add("name", job.displayName.map { masker($0) })
            }
            let steps = job.steps.map { step -> String in
                var s = JSONObject()
                s.add("name", masker(step.name))
                if let github = step.github {
                    s.add("id", github.id)
                    s.add("if", github.condition.isEmpty ? nil : masker(github.condition))
                    s.add("uses", github.uses.map { masker($0) })
                    s.add("native", github.uses.flatMap(NativeAction.init(uses:)).map(\.rawValue))
                    if let uses = github.uses, github.composite == nil, case .repository = NativeAction.kind(of: uses), NativeAction(uses: uses) == nil {
                        s.add("fetched", true)
                    }
                }
                s.add("run", masker(step.script.description))
                s.add("shell", step.shell.rawValue)
                s.add("workingDirectory", step.workingDirectory?.description)
                s.add("timeoutMs", step.timeout?.milliseconds)
                if step.detach { s.add("detach", true) }
                return s.text
            }
            o.add("steps", raw: "[" + steps.joined(separator: ",") + "]")
            return "    " + o.text
        }
        return """
            {
              "schemaVersion": \(plan.schemaVersion),
              "pipeline": \(p.text),
              "waves": [\(plan.waves.map(JSONObject.array).joined(separator: ","))],\(actionsJSON(actions))
              "jobs": [
            \(jobs.joined(separator: ",\n"))
              ]
            }

            """
    }
}
