import Foundation
import ShipgateModel

/// `environments:` and the deploy keys of a job (`environment`, `verify`, `rollback`).
extension PipelineDecoder {
    static let environmentKeys = [
        "branches", "tags", "requires", "promote-from", "approvals", "window", "freeze", "concurrency", "secrets", "retain-releases",
    ]
    static let approvalKeys = ["required", "from", "allow-self-approval", "expire"]
    static let windowKeys = ["days", "hours", "timezone"]
    static let freezeKeys = ["from", "to", "reason", "timezone"]
    static let httpKeys = ["url", "requests", "interval", "success-rate", "p95", "timeout"]

    mutating func decodeEnvironments(_ node: YAMLNode) -> [EnvironmentPolicy] {
        guard let entries = reader.mapping(node, what: "`environments`") else { return [] }
        var result: [EnvironmentPolicy] = []
        for entry in entries {
            if !Self.isJobID(entry.key) {
                reader.error(
                    "`\(entry.key)` is not a valid environment name", at: entry.keyNode,
                    hint: "use letters, digits, `_` and `-`, starting with a letter")
            }
            var env = EnvironmentPolicy(name: entry.key, location: reader.location(entry.keyNode))
            if NodeReader.kind(entry.value) == "null" {
                result.append(env)
                continue
            }
            guard let fields = reader.mapping(entry.value, what: "environment `\(entry.key)`", allowed: Self.environmentKeys) else { continue }
            for f in fields {
                switch f.key {
                case "branches", "tags":
                    let list = reader.stringList(f.value, what: "`\(f.key)` of environment `\(entry.key)`")
                    if list?.isEmpty == true {
                        reader.error("`\(f.key)` is empty: nothing could ever deploy to `\(entry.key)`", at: f.value, hint: "list at least one pattern")
                    }
                    if f.key == "branches" { env.branches = list } else { env.tags = list }
                case "requires": env.requires = reader.stringList(f.value, what: "`requires`") ?? []
                case "promote-from":
                    env.promoteFrom = reader.nonEmptyString(f.value, what: "`promote-from`").map { Located($0, at: reader.location(f.value)) }
                case "approvals": env.approvals = decodeApprovals(f.value)
                case "window": env.window = decodeWindow(f.value)
                case "freeze": env.freezes = decodeFreezes(f.value)
                case "concurrency": env.concurrency = reader.int(f.value, what: "`concurrency`", range: 1...1000)
                case "secrets": (env.secrets, env.secretCommands) = decodeEnvironmentSecrets(f.value, environment: entry.key)
                case "retain-releases": env.retainReleases = reader.int(f.value, what: "`retain-releases`", range: 1...1000) ?? 5
                default: break
                }
            }
            result.append(env)
        }
        return result
    }

    /// `secrets:` of an environment: a list whose items are a name (the value comes from the
    /// environment or `--secrets-file`) or `NAME: { command: CMD }` (a secret manager prints it),
    /// or a mapping of names to `{ command: CMD }` (or null for a plain name).
    private func decodeEnvironmentSecrets(_ node: YAMLNode, environment: String) -> ([Located<String>], [String: Located<String>]) {
        let what = "`secrets` of environment `\(environment)`"
        var names: [Located<String>] = []
        var commands: [String: Located<String>] = [:]
        func add(name: String, at keyNode: YAMLNode, spec: YAMLNode?) {
            guard Self.isEnvName(name) else {
                reader.error("`\(name)` is not a valid environment variable name", at: keyNode)
                return
            }
            if names.contains(where: { $0.value == name }) {
                reader.error("secret `\(name)` is listed twice in \(what)", at: keyNode)
                return
            }
            names.append(Located(name, at: reader.location(keyNode)))
            guard let spec, NodeReader.kind(spec) != "null" else { return }
            guard let fields = reader.mapping(spec, what: "secret `\(name)`", allowed: ["command"]) else { return }
            guard let command = fields.first(where: { $0.key == "command" }) else {
                reader.error("secret `\(name)` needs `command:` (the command that prints it), or no value", at: spec)
                return
            }
            if let text = reader.nonEmptyString(command.value, what: "`command` of secret `\(name)`") {
                commands[name] = Located(text, at: reader.location(command.value))
            }
        }
        switch node {
        case .sequence:
            for item in reader.sequence(node, what: what) ?? [] {
                if case .mapping = item {
                    guard let entries = reader.mapping(item, what: "an item of \(what)"), entries.count == 1 else {
                        reader.error("an item of \(what) is a name or one `NAME: { command: … }`", at: item)
                        continue
                    }
                    add(name: entries[0].key, at: entries[0].keyNode, spec: entries[0].value)
                } else if let name = reader.scalar(item, what: "an item of \(what)") {
                    add(name: name, at: item, spec: nil)
                }
            }
        case .mapping:
            for entry in reader.mapping(node, what: what) ?? [] { add(name: entry.key, at: entry.keyNode, spec: entry.value) }
        case .scalar:
            reader.error("\(what) must be a list of names or a mapping of names to `{ command: … }`", at: node)
        }
        return (names, commands)
    }

    private func decodeApprovals(_ node: YAMLNode) -> ApprovalPolicy? {
        guard let fields = reader.mapping(node, what: "`approvals`", allowed: Self.approvalKeys) else { return nil }
        var policy = ApprovalPolicy(required: 1, from: [])
        var requiredNode: YAMLNode?
        for f in fields {
            switch f.key {
            case "required":
                requiredNode = f.value
                policy.required = reader.int(f.value, what: "`approvals.required`", range: 1...50) ?? 1
            case "from": policy.from = (reader.stringList(f.value, what: "`approvals.from`") ?? []).map(\.value)
            case "allow-self-approval": policy.allowSelfApproval = reader.bool(f.value, what: "`approvals.allow-self-approval`") ?? false
            case "expire":
                if let t = reader.timeout(f.value, what: "`approvals.expire`") { policy.expire = t }
            default: break
            }
        }
        if requiredNode == nil {
            reader.error("`approvals` has no `required`", at: node, hint: "say how many approvals a deploy needs, e.g. `required: 2`")
        } else if !policy.from.isEmpty, policy.required > Set(policy.from).count, let requiredNode {
            reader.error(
                "`approvals.required` is \(policy.required) but `from` names only \(Set(policy.from).count) approver(s): the gate could never pass",
                at: requiredNode, hint: "lower `required` or add approvers to `from`")
        }
        return policy
    }

    private func decodeWindow(_ node: YAMLNode) -> ChangeWindow? {
        guard let fields = reader.mapping(node, what: "`window`", allowed: Self.windowKeys) else { return nil }
        var window = ChangeWindow(days: Weekday.allCases, start: 0, end: 24 * 60, timeZone: "UTC")
        for f in fields {
            switch f.key {
            case "days":
                var days: [Weekday] = []
                for d in reader.stringList(f.value, what: "`window.days`") ?? [] {
                    if let day = Weekday(rawValue: d.value.lowercased().prefix(3).description), d.value.count >= 3 {
                        days.append(day)
                    } else {
                        reader.error("`\(d.value)` is not a day", at: d.location, hint: "use mon, tue, wed, thu, fri, sat, sun")
                    }
                }
                window.days = days
            case "hours":
                guard let text = reader.nonEmptyString(f.value, what: "`window.hours`") else { continue }
                if let (start, end) = Self.parseHours(text) {
                    window.start = start
                    window.end = end
                } else {
                    reader.error("invalid hours `\(text)`", at: f.value, hint: "write `HH:MM-HH:MM` in 24-hour time, e.g. `09:00-16:00`")
                }
            case "timezone":
                guard let name = reader.nonEmptyString(f.value, what: "`window.timezone`") else { continue }
                if TimeZone(identifier: name) == nil {
                    reader.error("unknown time zone `\(name)`", at: f.value, hint: "use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`")
                } else {
                    window.timeZone = name
                }
            default: break
            }
        }
        if fields.first(where: { $0.key == "timezone" }) == nil {
            reader.error("`window` has no `timezone`", at: node, hint: "name the zone the hours are in, e.g. `timezone: Europe/Berlin`")
        }
        return window
    }

    /// `HH:MM-HH:MM` as minutes after midnight; `24:00` is allowed as an end.
    static func parseHours(_ text: String) -> (Int, Int)? {
        let parts = text.replacingOccurrences(of: " ", with: "").split(separator: "-")
        guard parts.count == 2 else { return nil }
        func minutes(_ s: Substring) -> Int? {
            let hm = s.split(separator: ":")
            guard hm.count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0..<60).contains(m) else { return nil }
            let total = h * 60 + m
            return total <= 24 * 60 ? total : nil
        }
        guard let a = minutes(parts[0]), let b = minutes(parts[1]), a != b, a < 24 * 60 else { return nil }
        return (a, b)
    }

    /// A calendar day written `YYYY-MM-DD`.
    static func isDay(_ s: String) -> Bool {
        let p = s.split(separator: "-")
        guard p.count == 3, p[0].count == 4, p[1].count == 2, p[2].count == 2, let m = Int(p[1]), let d = Int(p[2]), Int(p[0]) != nil else { return false }
        return (1...12).contains(m) && (1...31).contains(d)
    }

    private func decodeFreezes(_ node: YAMLNode) -> [Freeze] {
        guard let items = reader.sequence(node, what: "`freeze`") else { return [] }
        var result: [Freeze] = []
        for item in items {
            guard let fields = reader.mapping(item, what: "an entry of `freeze`", allowed: Self.freezeKeys) else { continue }
            var from: String?, to: String?, reason: String?, zone: String?
            for f in fields {
                switch f.key {
                case "from", "to":
                    guard let text = reader.nonEmptyString(f.value, what: "`freeze.\(f.key)`") else { continue }
                    if !Self.isDay(text) {
                        reader.error("invalid date `\(text)` for `freeze.\(f.key)`", at: f.value, hint: "write `YYYY-MM-DD`; both days are included")
                    } else if f.key == "from" {
                        from = text
                    } else {
                        to = text
                    }
                case "reason": reason = reader.nonEmptyString(f.value, what: "`freeze.reason`")
                case "timezone":
                    zone = reader.nonEmptyString(f.value, what: "`freeze.timezone`")
                    if let z = zone, TimeZone(identifier: z) == nil {
                        reader.error("unknown time zone `\(z)`", at: f.value, hint: "use an IANA name such as `Europe/Berlin` or `UTC`")
                        zone = nil
                    }
                default: break
                }
            }
            guard let from, let to else {
                if fields.contains(where: { $0.key == "from" }) == false || fields.contains(where: { $0.key == "to" }) == false {
                    reader.error("a freeze needs `from` and `to`", at: item, hint: "e.g. `{ from: 2026-12-20, to: 2027-01-04, reason: \"year-end\" }`")
                }
                continue
            }
            if from > to { reader.error("freeze ends (\(to)) before it starts (\(from))", at: item) }
            result.append(Freeze(from: from, to: to, reason: reason, timeZone: zone, location: reader.location(item)))
        }
        return result
    }

    mutating func decodeDeploy(_ nodes: [String: (key: YAMLNode, value: YAMLNode)], jobID: String, jobEnv: Set<String>) -> DeploySpec? {
        guard let (envKey, envNode) = nodes["environment"] else {
            for (key, pair) in nodes {
                reader.error("`\(key)` only applies to a job with `environment`", at: pair.key, hint: "add `environment: NAME` to job `\(jobID)`")
            }
            return nil
        }
        _ = envKey
        guard let name = reader.nonEmptyString(envNode, what: "`environment`") else { return nil }
        var spec = DeploySpec(environment: Located(name, at: reader.location(envNode)))
        if let (_, verifyNode) = nodes["verify"], let items = reader.sequence(verifyNode, what: "`verify`") {
            for item in items {
                if case .mapping(let map) = item, let http = map.pairs.first(where: { $0.key.scalar?.string == "http" }) {
                    if map.pairs.count > 1 {
                        reader.error("an `http` check takes no other keys beside it", at: item, hint: "put its settings under `http:`")
                    }
                    if let check = decodeHTTPCheck(http.value, jobID: jobID) { spec.verify.append(.http(check)) }
                } else if let step = decodeStep(item, jobID: jobID, jobEnv: jobEnv) {
                    spec.verify.append(.command(step))
                }
            }
        }
        if let (_, rollbackNode) = nodes["rollback"], let items = reader.sequence(rollbackNode, what: "`rollback`") {
            spec.rollback = items.compactMap { decodeStep($0, jobID: jobID, jobEnv: jobEnv) }
        }
        return spec
    }

    private mutating func decodeHTTPCheck(_ node: YAMLNode, jobID: String) -> HTTPCheck? {
        guard let fields = reader.mapping(node, what: "`http`", allowed: Self.httpKeys) else { return nil }
        guard let urlNode = fields.first(where: { $0.key == "url" })?.value else {
            reader.error("`http` check has no `url`", at: node, hint: "e.g. `url: http://127.0.0.1:8080/healthz`")
            return nil
        }
        guard let text = reader.nonEmptyString(urlNode, what: "`http.url`") else { return nil }
        if !(text.hasPrefix("http://") || text.hasPrefix("https://") || text.hasPrefix("${{")) {
            reader.error("`http.url` must start with http:// or https://, got `\(text)`", at: urlNode)
        }
        let (url, refs) = templates.parse(text, node: urlNode)
        references += refs.map { ($0, .job(id: jobID, envVisible: [])) }
        var check = HTTPCheck(url: url, location: reader.location(node))
        for f in fields {
            switch f.key {
            case "requests": check.requests = reader.int(f.value, what: "`http.requests`", range: 1...100_000) ?? check.requests
            case "interval": check.interval = reader.duration(f.value, what: "`http.interval`") ?? check.interval
            case "success-rate":
                if let s = reader.scalar(f.value, what: "`http.success-rate`"), let rate = Double(s), (0...1).contains(rate) {
                    check.successRate = rate
                } else {
                    reader.error("`http.success-rate` must be a number between 0 and 1", at: f.value, hint: "e.g. `0.99` for 99 % 2xx answers")
                }
            case "p95": check.p95 = reader.timeout(f.value, what: "`http.p95`")
            case "timeout": check.timeout = reader.timeout(f.value, what: "`http.timeout`") ?? check.timeout
            default: break
            }
        }
        return check
    }

    /// Names that environments and deploy jobs refer to must exist.
    func checkEnvironments(_ environments: [EnvironmentPolicy], jobs: [JobDefinition], secrets: [Located<String>]) {
        let names = environments.map(\.name)
        var seenSecret: [String: String] = [:]
        let jobIDs = jobs.map(\.id)
        for env in environments {
            for r in env.requires where !jobIDs.contains(r.value) {
                reader.error(
                    "environment `\(env.name)` requires unknown job `\(r.value)`", at: r.location,
                    hint: Suggest.hint(for: r.value, in: jobIDs) ?? "jobs: \(jobIDs.joined(separator: ", "))")
            }
            if let p = env.promoteFrom {
                if p.value == env.name {
                    reader.error("environment `\(env.name)` cannot be promoted from itself", at: p.location)
                } else if !names.contains(p.value) {
                    reader.error(
                        "`promote-from` names unknown environment `\(p.value)`", at: p.location,
                        hint: Suggest.hint(for: p.value, in: names) ?? "declare it under `environments`")
                }
            }
            for s in env.secrets {
                if let other = seenSecret[s.value] {
                    reader.error(
                        "secret `\(s.value)` belongs to environment `\(other)` already", at: s.location,
                        hint: "an environment secret belongs to one environment")
                }
                seenSecret[s.value] = env.name
                if secrets.contains(where: { $0.value == s.value }) {
                    reader.error(
                        "`\(s.value)` is both a pipeline secret and a secret of environment `\(env.name)`", at: s.location,
                        hint: "remove it from the top-level `secrets` so only `\(env.name)` jobs receive it")
                }
            }
        }
        for job in jobs {
            guard let d = job.deploy else { continue }
            if !names.contains(d.environment.value) {
                reader.error(
                    "job `\(job.id)` deploys to unknown environment `\(d.environment.value)`", at: d.environment.location,
                    hint: Suggest.hint(for: d.environment.value, in: names) ?? "declare it under `environments:`")
            }
            if job.cache != nil {
                reader.warning("job `\(job.id)` deploys, so it is never restored from the cache; `inputs` has no effect", at: job.location)
            }
        }
    }
}
