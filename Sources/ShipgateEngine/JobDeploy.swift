import Foundation
import ShipgateJobCache
import ShipgateModel
import ShipgatePlanning

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
            await hooks.phase(ticket, "verifying")
            failure = await verify(job, deploy: deploy, hooks: hooks, needed: needed, root: root, extraEnv: extraEnv, log: log, result: &result)
            await hooks.verified(
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
        await hooks.phase(ticket, "rolling-back")
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
            runner.groups?.kill(pgids)
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
        _ job: PlannedJob, deploy: PlannedDeploy, hooks: any DeploymentHooks, needed: [String: JobResult], root: String, extraEnv: [String: String],
        log: JobLog,
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
                    runner.groups?.kill(pgids)
                    if let failure { return "verify \(failure)" }
                } catch {
                    return "verify: \(error)"
                }
            case .http(let http):
                let url: String
                do { url = try CacheContext.resolve(http.url, outputs: needed.mapValues(\.outputs), cache: cache) } catch { return "verify: \(error)" }
                emitLine(job.id, "verify: GET \(url) ×\(http.requests), every \(http.interval)", log)
                let probe = await hooks.probe(
                    http, url: url, cancellation: cancellation, deadline: ContinuousClock().now.advanced(by: job.timeout.duration))
                emitLine(job.id, "verify: " + probe.summary, log)
                if !probe.passed { return "http check: " + probe.summary }
            }
        }
        return nil
    }
}
