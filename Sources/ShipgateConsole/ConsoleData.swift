import Foundation
import ShipgateEngine
import ShipgateGate
import ShipgateGit
import ShipgateJobCache
import ShipgateModel
import ShipgateRelease
import ShipgateState

/// What the pages and the JSON API show, gathered from the state store, git and the run
/// directories. Values only; rendering is elsewhere.
struct EnvironmentView {
    var name: String
    var protected: Bool
    /// What the environment runs (`LiveRelease`), and whether a failed rollback needs a person.
    var live: LiveRelease
    var current: DeploymentRow? { live.release }
    var recent: [DeploymentRow]
    var locks: [LockRow]
    var schedule: [GateRuleVerdict]
    var pending: Int
}

struct PendingView {
    var gate: GateRow
    var run: RunRow
    var git: [String: String]
    var current: DeploymentRow?
    var commits: [Commit]
    var commitsTruncated: Bool
    var paths: [String]?
    var jobs: [JobResult]
    var findings: [(job: String, file: String, summary: String)]
    var artifacts: [String: String]
    var decision: GateDecision?
    /// Every statement recorded for the gate, each checked against the trusted keyring.
    var approvals: [ShownStatement]
}

extension Console {
    func environments() async throws -> [EnvironmentView] {
        let policy = policy()
        let locks = try await store.locks()
        let blocked = try await store.blockedGates()
        // The pipeline's environments, then any others recent releases went to.
        var names: [String] = policy.map { p in p.environments.keys.sorted() } ?? []
        for d in try await store.deployments(environment: nil, limit: 200) where !names.contains(d.environment) { names.append(d.environment) }
        let t = now()
        var views: [EnvironmentView] = []
        for name in names {
            let env = policy?.environments[name]
            let recent = try await store.deployments(environment: name, limit: 5)
            var schedule: [GateRuleVerdict] = []
            if let w = env?.window { schedule.append(ScheduleCheck.window(w, now: t)) }
            for f in env?.freezes ?? [] { schedule.append(ScheduleCheck.freeze(f, defaultZone: env?.window?.timeZone, now: t)) }
            views.append(
                EnvironmentView(
                    name: name, protected: env?.isProtected ?? false, live: try await LiveRelease.of(environment: name, in: store), recent: recent,
                    locks: locks.filter { $0.name.hasPrefix(EnvironmentLock.prefix(name)) }, schedule: schedule,
                    pending: blocked.filter { $0.environment == name }.count))
        }
        return views
    }

    func pending(limit: Int = 50) async throws -> [PendingView] {
        let repo = try? Repository.discover(at: settings.workspace)
        var views: [PendingView] = []
        for gate in try await store.blockedGates().prefix(limit) {
            guard let run = try await store.run(gate.runID) else { continue }
            let jobRows = try await store.jobs(ofRun: run.id)
            let git = run.git.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
            let current = try await LiveRelease.of(environment: gate.environment, in: store).release
            var commits: [Commit] = []
            var truncated = false
            var paths: [String]?
            if let repo, let head = gate.commitID {
                (commits, truncated) = repo.commits(from: current?.commitID, to: head, limit: 30)
                if let base = current?.commitID { paths = repo.changedPaths(from: base, to: head) }
            }
            let approvals = await ApprovalRecords.statements(store: store, runID: run.id, environment: gate.environment, commit: gate.commitID)
            let policy = policy(pipelineFile: pipelineFile(of: run))
            var decision: GateDecision?
            if let policy {
                decision = await LiveGate.evaluate(gate: gate, run: run, jobs: jobRows, approvals: approvals, policy: policy, store: store, now: now())
            }
            views.append(
                PendingView(
                    gate: gate, run: run, git: git, current: current, commits: commits, commitsTruncated: truncated, paths: paths,
                    jobs: jobRows.compactMap(StateRecorder.decode), findings: findings(runID: run.id),
                    artifacts: (try? JSONDecoder().decode([String: String].self, from: Data(gate.artifacts.utf8))) ?? [:], decision: decision,
                    approvals: approvals.map { ShownStatement($0, keyring: policy?.keyring ?? Keyring()) }))
        }
        return views
    }

    /// Scan results a run's jobs published as artifacts: SARIF files (`*.sarif`, `*.sarif.json`,
    /// counted by level) and `findings.json` (an object of counts, e.g. `{"critical": 0, "high": 2}`).
    func findings(runID: String) -> [(job: String, file: String, summary: String)] {
        guard let stateDir = settings.stateDirectory else { return [] }
        let dir = RunDirectory(stateDirectory: stateDir, runID: runID).root + "/artifacts"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var out: [(String, String, String)] = []
        for name in names.sorted() where name.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: dir + "/" + name), let manifest = try? decoder.decode(ArtifactManifest.self, from: data)
            else { continue }
            for file in manifest.files where file.kind == .file && file.size < 8 << 20 {
                let base = (file.path as NSString).lastPathComponent.lowercased()
                guard base.hasSuffix(".sarif") || base.hasSuffix(".sarif.json") || base == "findings.json" else { continue }
                let blob = "\(stateDir)/cache/cas/\(file.digest.prefix(2))/\(file.digest)"
                guard let bytes = FileManager.default.contents(atPath: blob), let summary = Self.summarize(bytes, sarif: base != "findings.json") else {
                    continue
                }
                out.append((manifest.job, file.path, summary))
            }
        }
        return out
    }

    static func summarize(_ data: Data, sarif: Bool) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        if sarif {
            var counts: [String: Int] = [:]
            for run in object["runs"] as? [[String: Any]] ?? [] {
                for r in run["results"] as? [[String: Any]] ?? [] { counts[r["level"] as? String ?? "warning", default: 0] += 1 }
            }
            let total = counts.values.reduce(0, +)
            if total == 0 { return "no findings" }
            return ["error", "warning", "note", "none"].compactMap { l in counts[l].map { "\($0) \(l)" } }.joined(separator: ", ")
        }
        let pairs = object.compactMap { k, v -> (String, Int)? in (v as? NSNumber).map { (k, $0.intValue) } }
        let order = ["critical", "high", "medium", "low"]
        return pairs.sorted { (order.firstIndex(of: $0.0) ?? 9, $0.0) < (order.firstIndex(of: $1.0) ?? 9, $1.0) }.map { "\($0.1) \($0.0)" }
            .joined(separator: ", ")
    }

    /// A job's log from the local run directory, or nil.
    func log(runID: String, job: String) async -> String? {
        guard let row = try? await store.jobs(ofRun: runID).first(where: { $0.id == job }), let result = StateRecorder.decode(row) else { return nil }
        return log(runID: runID, of: result)
    }

    func log(runID: String, of result: JobResult) -> String? {
        guard let stateDir = settings.stateDirectory, let rel = result.log, !rel.contains("..") else { return nil }
        let path = RunDirectory(stateDirectory: stateDir, runID: runID).root + "/" + rel
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    func timeline(runID: String, embedLogs: Bool) async throws -> RunTimeline? {
        guard let run = try await store.findRun(runID) else { return nil }
        let rows = try await store.jobs(ofRun: run.id)
        let jobs = rows.compactMap(StateRecorder.decode)
        var timeline = await RunTimeline(run: run, jobs: jobs, attempts: try store.attempts(ofRun: run.id), gates: try store.gates(ofRun: run.id))
        for r in rows { timeline.finishedAt[r.id] = r.finishedAt.flatMap(StateTime.date) }
        if embedLogs {
            var logs: [String: String] = [:]
            for j in jobs {
                if let text = log(runID: run.id, of: j) { logs[j.id] = Self.tail(text, lines: 400) }
            }
            timeline.embeddedLogs = logs
        } else if settings.stateDirectory != nil {
            let id = run.id
            timeline.logURL = { j in j.log == nil ? nil : "/runs/\(HTML.url(id))/logs/\(HTML.url(j.id))" }
        }
        return timeline
    }

    static func tail(_ text: String, lines: Int) -> String {
        let all = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard all.count > lines else { return text }
        return "… \(all.count - lines) earlier lines in the log file …\n" + all.suffix(lines).joined(separator: "\n")
    }
}

extension Console {
    /// The run page as one self-contained HTML document, logs embedded (`shipgate report`).
    public func runReport(runID: String) async throws -> String? {
        try await timeline(runID: runID, embedLogs: true)?.standalone()
    }
}
