import Foundation
import ShipgateModel
import ShipgatePlanning

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

extension JobExecutor {
    /// After a deploy job's steps: verify, and on any failure roll back to the last good
    /// release. Records the outcome through the hooks and sets the job's status and reason.
    func finishDeploy(
        _ job: PlannedJob, deploy: PlannedDeploy, ticket: DeployTicket, hooks: any DeploymentHooks, needed: [String: JobResult],
        root: String, extraEnv: [String: String], log: JobLog, result: inout JobResult
    ) async {
        if result.status == .cancelled {
            await record(ticket, .failed("cancelled: \(result.reason ?? "")"), hooks: hooks, result: &result)
            return
        }
        var failure: String? = result.status == .success ? nil : "deploy steps failed: \(result.reason ?? "")"
        if failure == nil, !deploy.verify.isEmpty {
            hooks.phase(ticket, "verifying")
            failure = await verify(job, deploy: deploy, needed: needed, root: root, extraEnv: extraEnv, log: log, result: &result)
            hooks.verified(
                ticket, passed: failure == nil, detail: masker(failure ?? "\(deploy.verify.count) check\(deploy.verify.count == 1 ? "" : "s") passed"))
            if let failure {
                notice(job.id, .warning, "verify failed: \(failure)")
            } else {
                notice(job.id, .info, "verify passed: release \(ticket.release) is live in \(ticket.environment)")
            }
        }
        guard let failure else {
            result.status = .success
            result.reason = nil
            await record(ticket, .success, hooks: hooks, result: &result)
            return
        }
        result.status = .failed
        guard !deploy.rollback.isEmpty else {
            result.reason = masker("\(failure); no `rollback` steps: \(ticket.environment) may be half-deployed, check it by hand")
            await record(ticket, .failed(failure), hooks: hooks, result: &result)
            return
        }
        guard let target = ticket.rollbackTarget else {
            result.reason = masker("\(failure); no earlier good release in \(ticket.environment) to roll back to: manual action needed")
            await record(ticket, .failed(failure), hooks: hooks, result: &result)
            return
        }
        hooks.phase(ticket, "rolling-back")
        let release = target.release
        notice(job.id, .warning, "rolling back \(ticket.environment) to release \(release)")
        var env = extraEnv
        for (k, v) in target.variables { env[k] = v }
        let dir = options.runDirectory.root + "/rollback-artifacts/" + RunDirectory.fileName(for: job.id)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if await hooks.restoreRollbackArtifacts(ticket, into: dir) { env["SHIPGATE_ROLLBACK_ARTIFACTS"] = dir }
        let rollbackFailure: String?
        do {
            let steps = try prepare(deploy.rollback, needed: needed)
            var pgids: [Int32] = []
            let deadline = ContinuousClock().now.advanced(by: job.timeout.duration)
            var scratch = result
            rollbackFailure = await runSteps(
                job, prepared: steps, attempt: result.attempts, deadline: deadline, root: root, extraEnv: env, log: log,
                outputsPath: options.runDirectory.outputsPath(for: job.id) + ".rollback", pgids: &pgids, result: &scratch)
            (runner as? SubprocessRunner)?.groups.kill(pgids)
        } catch {
            rollbackFailure = "\(error)"
        }
        if let rollbackFailure {
            result.reason = masker(
                "\(failure); ROLLBACK FAILED: \(rollbackFailure). \(ticket.environment) needs manual action: see `shipgate history --env \(ticket.environment)`"
            )
            notice(job.id, .warning, "rollback of \(ticket.environment) failed: manual action needed")
            await record(ticket, .rollbackFailed("\(failure); rollback: \(rollbackFailure)"), hooks: hooks, result: &result)
        } else {
            result.reason = masker("\(failure); rolled back \(ticket.environment) to release \(release)")
            await record(ticket, .rolledBack(failure), hooks: hooks, result: &result)
        }
    }

    /// Hands the outcome to the hooks; when it cannot be recorded, the job fails with why
    /// (after what happened to the environment, which stays in the reason).
    private func record(_ ticket: DeployTicket, _ outcome: DeployOutcome, hooks: any DeploymentHooks, result: inout JobResult) async {
        guard let problem = await hooks.finish(ticket, outcome: outcome) else { return }
        result.status = .failed
        result.reason = masker([result.reason, problem].compactMap { $0 }.joined(separator: "; "))
    }

    /// Runs the verify checks in order; nil when all pass, else what failed.
    private func verify(
        _ job: PlannedJob, deploy: PlannedDeploy, needed: [String: JobResult], root: String, extraEnv: [String: String], log: JobLog,
        result: inout JobResult
    ) async -> String? {
        for check in deploy.verify {
            if let reason = cancellation.reason { return "cancelled: \(reason)" }
            switch check {
            case .command(let step):
                do {
                    let prepared = try prepare([step], needed: needed)
                    var pgids: [Int32] = []
                    var scratch = result
                    let deadline = ContinuousClock().now.advanced(by: job.timeout.duration)
                    let failure = await runSteps(
                        job, prepared: prepared, attempt: result.attempts, deadline: deadline, root: root, extraEnv: extraEnv, log: log,
                        outputsPath: options.runDirectory.outputsPath(for: job.id) + ".verify", pgids: &pgids, result: &scratch)
                    (runner as? SubprocessRunner)?.groups.kill(pgids)
                    if let failure { return "verify \(failure)" }
                } catch {
                    return "verify: \(error)"
                }
            case .http(let http):
                let url: String
                do { url = try CacheContext.resolve(http.url, outputs: needed.mapValues(\.outputs), cache: cache) } catch { return "verify: \(error)" }
                emitLine(job.id, "verify: GET \(url) ×\(http.requests), every \(http.interval)", log)
                let probe = await HTTPProbe.run(
                    http, url: url, cancellation: cancellation, deadline: ContinuousClock().now.advanced(by: job.timeout.duration))
                emitLine(job.id, "verify: " + probe.summary, log)
                if !probe.passed { return "http check: " + probe.summary }
            }
        }
        return nil
    }
}

/// The built-in HTTP check: the SLIs an SRE team tracks (ratio of 2xx answers, p95 latency).
public enum HTTPProbe {
    public struct Outcome: Sendable, Equatable {
        public var passed: Bool
        public var ok: Int
        public var total: Int
        public var p95Ms: Int64
        public var summary: String
    }

    /// Stops early (failing) at `deadline`: verify runs under the job's timeout.
    public static func run(_ check: HTTPCheck, url text: String, cancellation: CancellationToken, deadline: ContinuousClock.Instant? = nil) async -> Outcome {
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https" else {
            return Outcome(passed: false, ok: 0, total: 0, p95Ms: 0, summary: "`\(text)` is not an http(s) URL")
        }
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = Double(check.timeout.milliseconds) / 1000
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: config)
        defer { session.finishTasksAndInvalidate() }
        var latencies: [Int64] = []
        var ok = 0
        var codes: [String: Int] = [:]
        let clock = ContinuousClock()
        for i in 0..<check.requests {
            if cancellation.isCancelled { break }
            if let deadline, clock.now >= deadline { break }
            if i > 0, await !cancellation.sleep(check.interval.duration) { break }
            var request = URLRequest(url: url)
            request.timeoutInterval = Double(check.timeout.milliseconds) / 1000
            let start = clock.now
            let code: Int? = await withCheckedContinuation { continuation in
                session.dataTask(with: request) { _, response, _ in
                    continuation.resume(returning: (response as? HTTPURLResponse)?.statusCode)
                }.resume()
            }
            latencies.append((clock.now - start).milliseconds)
            let key = code.map(String.init) ?? "no answer"
            codes[key, default: 0] += 1
            if let code, (200..<300).contains(code) { ok += 1 }
        }
        let total = latencies.count
        let sorted = latencies.sorted()
        let p95 = sorted.isEmpty ? 0 : sorted[max(0, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]
        let rate = total == 0 ? 0 : Double(ok) / Double(total)
        var passed = total == check.requests && rate >= check.successRate
        var summary = "\(ok)/\(total) answers 2xx (\(percent(rate)), need \(percent(check.successRate)))"
        if let limit = check.p95 {
            summary += ", p95 \(p95) ms (limit \(limit.milliseconds) ms)"
            if p95 > limit.milliseconds { passed = false }
        } else {
            summary += ", p95 \(p95) ms"
        }
        let others = codes.filter { !(Int($0.key).map { (200..<300).contains($0) } ?? false) }
        if !others.isEmpty { summary += "; other answers: " + others.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") }
        return Outcome(passed: passed, ok: ok, total: total, p95Ms: p95, summary: summary)
    }

    static func percent(_ r: Double) -> String {
        let v = (r * 1000).rounded() / 10
        return v == v.rounded() ? "\(Int(v)) %" : "\(v) %"
    }
}
