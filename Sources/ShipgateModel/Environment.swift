/// A deploy target declared under `environments:`, with the rules its gate enforces.
///
/// An environment with no rule at all (`staging: {}`) is unprotected: its jobs start like any
/// other, but their deployments are still recorded, verified and rolled back.
public struct EnvironmentPolicy: Hashable, Sendable, Codable {
    public var name: String
    public var location: SourceLocation
    /// Globs the run's branch must match (`branches`), or one of its tags (`tags`).
    public var branches: [Located<String>]?
    public var tags: [Located<String>]?
    /// Jobs that must have succeeded (or been restored from the cache) in this run.
    public var requires: [Located<String>]
    /// An environment where the same commit and artifacts must have deployed and verified.
    public var promoteFrom: Located<String>?
    public var approvals: ApprovalPolicy?
    public var window: ChangeWindow?
    public var freezes: [Freeze]
    /// Most deploys to this environment at once; nil: no limit.
    public var concurrency: Int?
    /// Secret names only this environment's jobs receive, once its gate passed.
    public var secrets: [Located<String>]
    /// Secrets fetched from a secret manager: the command that prints each (stdout, one trailing
    /// newline dropped). Shipgate runs it only after this environment's gate passed, for the
    /// admitted deploy only: never for a plan, never cached. Every name is also in `secrets`.
    public var secretCommands: [String: Located<String>] = [:]
    /// Good releases whose artifacts are kept for rollback.
    public var retainReleases: Int

    public init(
        name: String, location: SourceLocation, branches: [Located<String>]? = nil, tags: [Located<String>]? = nil,
        requires: [Located<String>] = [], promoteFrom: Located<String>? = nil, approvals: ApprovalPolicy? = nil,
        window: ChangeWindow? = nil, freezes: [Freeze] = [], concurrency: Int? = nil, secrets: [Located<String>] = [],
        retainReleases: Int = 5
    ) {
        self.name = name
        self.location = location
        self.branches = branches
        self.tags = tags
        self.requires = requires
        self.promoteFrom = promoteFrom
        self.approvals = approvals
        self.window = window
        self.freezes = freezes
        self.concurrency = concurrency
        self.secrets = secrets
        self.retainReleases = retainReleases
    }

    /// Whether a gate must be evaluated before its jobs start.
    public var isProtected: Bool {
        branches != nil || tags != nil || !requires.isEmpty || promoteFrom != nil || approvals != nil || window != nil || !freezes.isEmpty
    }

    /// The rules as a canonical text, to tell whether two policies enforce the same thing
    /// (locations and declaration order of lists aside).
    public var ruleText: String {
        var lines: [String] = []
        func list(_ key: String, _ values: [Located<String>]?) {
            if let values { lines.append("\(key)=\(values.map(\.value).sorted().joined(separator: ","))") }
        }
        list("branches", branches)
        list("tags", tags)
        list("requires", requires)
        list("secrets", secrets)
        for (name, command) in secretCommands.sorted(by: { $0.key < $1.key }) { lines.append("secret-command \(name)=\(command.value)") }
        if let promoteFrom { lines.append("promote-from=\(promoteFrom.value)") }
        if let a = approvals {
            lines.append("approvals=\(a.required) from \(a.from.sorted().joined(separator: ",")) self=\(a.allowSelfApproval) expire=\(a.expire)")
        }
        if let w = window { lines.append("window=\(w.days.map(\.rawValue).joined(separator: ",")) \(w.hoursText) \(w.timeZone)") }
        for f in freezes { lines.append("freeze=\(f.from)..\(f.to) \(f.timeZone ?? "")") }
        if let concurrency { lines.append("concurrency=\(concurrency)") }
        lines.append("retain=\(retainReleases)")
        return lines.joined(separator: "\n")
    }
}

/// `approvals:`: how many distinct approvers, from whom, and how long an approval lasts.
public struct ApprovalPolicy: Hashable, Sendable, Codable {
    public var required: Int
    /// Keyring names allowed to approve; empty means anyone in the keyring.
    public var from: [String]
    public var allowSelfApproval: Bool
    public var expire: TimeSpan

    public init(required: Int, from: [String], allowSelfApproval: Bool = false, expire: TimeSpan = .minutes(24 * 60)) {
        self.required = required
        self.from = from
        self.allowSelfApproval = allowSelfApproval
        self.expire = expire
    }
}

public enum Weekday: String, Hashable, Sendable, Codable, CaseIterable {
    case sun, mon, tue, wed, thu, fri, sat

    /// Gregorian weekday number: 1 is Sunday.
    public var number: Int { Weekday.allCases.firstIndex(of: self)! + 1 }
}

/// `window:`: when deploys may start, in a named time zone (`days`, `hours` as `HH:MM-HH:MM`).
public struct ChangeWindow: Hashable, Sendable, Codable {
    public var days: [Weekday]
    /// Minutes after midnight; `end` is exclusive. `start > end` spans midnight.
    public var start: Int
    public var end: Int
    /// IANA name, e.g. `Europe/Berlin`.
    public var timeZone: String

    public init(days: [Weekday], start: Int, end: Int, timeZone: String) {
        self.days = days
        self.start = start
        self.end = end
        self.timeZone = timeZone
    }

    public var hoursText: String {
        func hm(_ m: Int) -> String {
            let h = m / 60, mm = m % 60
            return (h < 10 ? "0" : "") + "\(h):" + (mm < 10 ? "0" : "") + "\(mm)"
        }
        return hm(start) + "-" + hm(end)
    }
}

/// A period with no deploys: `from` and `to` are calendar days (`YYYY-MM-DD`), both included,
/// in `timeZone` (else the window's zone, else UTC).
public struct Freeze: Hashable, Sendable, Codable {
    public var from: String
    public var to: String
    public var reason: String?
    public var timeZone: String?
    public var location: SourceLocation

    public init(from: String, to: String, reason: String?, timeZone: String? = nil, location: SourceLocation) {
        self.from = from
        self.to = to
        self.reason = reason
        self.timeZone = timeZone
        self.location = location
    }
}

/// A post-deploy check: a command, or the built-in HTTP probe.
public enum VerifyCheck: Hashable, Sendable, Codable {
    case command(Step)
    case http(HTTPCheck)
}

/// `http:` under `verify`: `requests` GETs `interval` apart; passes when the share of 2xx
/// answers reaches `successRate` and, if given, the 95th percentile latency is within `p95`.
public struct HTTPCheck: Hashable, Sendable, Codable {
    public var url: Template
    public var requests: Int
    public var interval: TimeSpan
    public var successRate: Double
    public var p95: TimeSpan?
    /// Per request.
    public var timeout: TimeSpan
    public var location: SourceLocation

    public init(
        url: Template, requests: Int = 10, interval: TimeSpan = .millis(200), successRate: Double = 1, p95: TimeSpan? = nil,
        timeout: TimeSpan = .seconds(5), location: SourceLocation
    ) {
        self.url = url
        self.requests = requests
        self.interval = interval
        self.successRate = successRate
        self.p95 = p95
        self.timeout = timeout
        self.location = location
    }
}

/// What a job of an environment does besides its steps.
public struct DeploySpec: Hashable, Sendable, Codable {
    public var environment: Located<String>
    public var verify: [VerifyCheck]
    public var rollback: [Step]

    public init(environment: Located<String>, verify: [VerifyCheck] = [], rollback: [Step] = []) {
        self.environment = environment
        self.verify = verify
        self.rollback = rollback
    }
}

/// One rule of a gate and what it decided.
public struct GateRuleVerdict: Hashable, Sendable, Codable {
    /// `branch`, `requires`, `promote-from`, `window`, `freeze`, `approvals`, `git`.
    public var rule: String
    public var passed: Bool
    public var detail: String
    public init(rule: String, passed: Bool, detail: String) {
        self.rule = rule
        self.passed = passed
        self.detail = detail
    }
}
