import Foundation
import ShipgateJobCache
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess
import Synchronization

/// Runs an `ExecutionPlan`: jobs in parallel along the DAG, at most `parallelism` at once.
///
/// Contract:
/// - A job starts when every job it needs has finished and satisfies it (success, or failure
///   with `continue-on-error`); otherwise it is `skipped` with the reason.
/// - Ready jobs start in plan order. After cancellation (the token, or `--fail-fast` after a
///   failure) nothing new starts; running steps get SIGTERM, then SIGKILL; the rest are `cancelled`.
/// - Each finished job is journaled at once (see `RunDirectory`). Events go to `observer`, already masked.
public struct Executor: Sendable {
    public let plan: ExecutionPlan
    public let options: RunOptions
    public let runner: any ProcessRunner
    public let observer: any RunObserver
    public let cancellation: CancellationToken
    /// The job cache, artifacts and dependency caches; nil runs without any of them.
    public let cache: CacheContext?
    /// Writes of the run's own record (directory, journal, `run.json`) that failed.
    let recordWrites: RecordWrites

    public init(
        plan: ExecutionPlan, options: RunOptions, runner: any ProcessRunner, observer: any RunObserver, cancellation: CancellationToken,
        cache: CacheContext? = nil
    ) {
        self.plan = plan
        var options = options
        options.runDirectory.assignNames(plan.jobs.map(\.id))
        self.options = options
        self.runner = runner
        self.observer = observer
        self.cancellation = cancellation
        self.cache = cache
        recordWrites = RecordWrites(observer: observer)
    }

    public func run() async -> RunResult {
        let startedAt = Date()
        let clock = ContinuousClock()
        let start = clock.now
        let jobs = plan.runnable
        let masker = SecretMasker(values: Array(options.secrets.values) + options.extraMasked)
        var record = RunResult(
            runID: options.runID, pipeline: plan.pipeline.name, pipelineFile: plan.pipeline.file, pipelineDigest: plan.pipeline.digest,
            status: .running, startedAt: startedAt, finishedAt: nil, durationMs: 0, pid: getpid(), jobs: [])
        record.git = options.git.isEmpty ? nil : options.git
        record.partial = options.partial ? true : nil
        record.noCache = options.noCache ? true : nil
        if let actions = options.workflow?.actions, !actions.isEmpty {
            record.actions = actions.compactMapValues { if case .action(let a) = $0 { a.remote?.commit } else { nil } }
        }
        do { try options.runDirectory.create() } catch {
            recordWrites.failed("cannot create the run directory \(options.runDirectory.root): \(RecordWrites.describe(error))")
        }
        save(record)
        observer.handle(.runStarted(runID: options.runID, pipeline: plan.pipeline.name, jobs: jobs.map(\.id), logDirectory: options.runDirectory.root))
        if let summary = options.contextSummary { observer.handle(.notice(job: nil, level: .info, message: summary)) }

        var scheduler = Scheduler(jobs: jobs)
        var results: [String: JobResult] = options.externalResults
        // Jobs the plan skipped by a rule are part of the record, with their reason.
        let journal = RunJournal(path: options.runDirectory.journalPath)
        for job in plan.jobs where job.status == .skip && !(job.reason ?? "").hasPrefix("not selected") {
            var skipped = JobResult(id: job.id, status: .skipped, reason: job.reason, continueOnError: job.continueOnError)
            skipped.skipCause = .rule
            results[job.id] = skipped
            observer.handle(.jobFinished(skipped))
            journal.append(skipped)
        }
        let jobExecutor = JobExecutor(
            options: options, environmentBase: ProcessEnvironment.Base(options.baseEnvironment), runner: runner, observer: observer,
            cancellation: cancellation, masker: masker, cache: cache, decisions: AppendOnlyFile(path: options.runDirectory.root + "/cache.jsonl"),
            secretNames: Set(plan.secrets),
            // Only private workspaces read them.
            producers: plan.jobs.contains { $0.isolation.workspace == .private }
                ? Dictionary(plan.jobs.map { ($0.id, ($0.needs, $0.outputs)) }, uniquingKeysWith: { a, _ in a }) : [:])
        // Runs share the cache; `cache prune` takes it exclusively.
        let cacheLock = cache?.local.lock(exclusive: false)
        defer {
            cache?.finish()
            cacheLock?.release()
        }

        // Workflow jobs: what `failure()` looks at (every ancestor), matrix fail-fast and max-parallel.
        let ancestors = plan.jobs.contains { $0.github != nil } ? Self.ancestors(plan.jobs) : [:]
        var failedMatrices: [String: String] = [:]  // declared job → the variant that failed
        var variantTokens: [String: [String: CancellationToken]] = [:]  // declared job → running variant → its token
        var runningVariants: [String: Int] = [:]
        let byID = Dictionary(plan.jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        await withTaskGroup(of: JobResult.self) { group in
            var running = 0
            var alone: String?
            var busy: [String: String] = [:]  // resource group → the job holding it
            func finish(_ result: JobResult) {
                if alone == result.id { alone = nil }
                if let job = byID[result.id], let github = job.github {
                    if result.startedAt != nil, runningVariants[job.job] != nil { runningVariants[job.job]! -= 1 }
                    if let token = variantTokens[job.job]?.removeValue(forKey: result.id) {
                        cancellation.removeObserver(ObjectIdentifier(token))
                    }
                    if github.failFast, github.variantCount > 1, result.status == .failed, !result.continueOnError, failedMatrices[job.job] == nil {
                        failedMatrices[job.job] = result.id
                        // GitHub cancels the matrix's running variants too.
                        for (_, token) in variantTokens[job.job] ?? [:] {
                            token.cancel(reason: "`\(result.id)` failed (strategy.fail-fast)", interrupt: false)
                        }
                    }
                }
                busy = busy.filter { $0.value != result.id }
                results[result.id] = result
                record.jobs.append(result)
                scheduler.finished(result.id)
                observer.handle(.jobFinished(result))
                if options.failFast, result.status == .failed, !result.continueOnError {
                    cancellation.cancel(reason: "--fail-fast: \(result.id) failed", interrupt: false)
                }
                if !journal.append(result) {
                    recordWrites.failed(
                        "cannot append `\(result.id)` to the run journal \(options.runDirectory.journalPath): \(journal.lastError ?? "write failed")")
                }
            }
            while true {
                while running < options.parallelism,
                    let job = scheduler.nextReady(
                        running: running, alone: alone != nil, busy: Set(busy.keys),
                        full: Set(runningVariants.filter { id, n in n >= (byID.values.first { $0.job == id }?.github?.maxParallel ?? Int.max) }.keys))
                {
                    if var earlier = options.previousResults[job.id], earlier.status == .success || earlier.status == .cached {
                        earlier.reason = "done in an earlier attempt of this run; not run again"
                        finish(earlier)
                        continue
                    }
                    if let reason = cancellation.reason {
                        finish(JobResult(id: job.id, status: .cancelled, reason: "not started: \(reason)", continueOnError: job.continueOnError))
                        continue
                    }
                    if let github = job.github {
                        if let failed = failedMatrices[job.job] {
                            finish(
                                JobResult(
                                    id: job.id, status: .cancelled, reason: "not started: `\(failed)` failed (strategy.fail-fast)",
                                    continueOnError: job.continueOnError))
                            continue
                        }
                        switch WorkflowJobCondition.decide(
                            job, github: github, results: results, ancestors: ancestors[job.id] ?? [], runtime: options.workflow,
                            cancelled: cancellation.isCancelled)
                        {
                        case .run: break
                        case .skip(let reason):
                            var skipped = JobResult(id: job.id, status: .skipped, reason: reason, continueOnError: job.continueOnError)
                            skipped.skipCause = .needs
                            finish(skipped)
                            continue
                        case .fail(let reason):
                            finish(JobResult(id: job.id, status: .failed, reason: reason, continueOnError: job.continueOnError))
                            continue
                        }
                        if github.maxParallel != nil { runningVariants[job.job, default: 0] += 1 }
                    }
                    let blocking = job.github != nil ? [] : job.needs.compactMap { results[$0] }.filter { !$0.satisfiesDependents }
                    if !blocking.isEmpty {
                        let names = blocking.map(\.id).joined(separator: ", ")
                        let verb = blocking.allSatisfy { $0.status == .failed } ? "failed" : "did not succeed"
                        var skipped = JobResult(id: job.id, status: .skipped, reason: "needs \(verb): \(names)", continueOnError: job.continueOnError)
                        skipped.skipCause = .needs
                        finish(skipped)
                        continue
                    }
                    let needed = Dictionary(job.needs.compactMap { id in results[id].map { (id, $0) } }, uniquingKeysWith: { a, _ in a })
                    running += 1
                    if let group = job.resourceGroup { busy[group] = job.id }
                    if job.runsAlone {
                        alone = job.id
                        // What earlier jobs left running must not see what this job receives.
                        options.beforeRunningAlone?()
                    }
                    // Only a deploy's gate reads the other results (`requires`). Handing every job a
                    // snapshot would make each later write copy the whole dictionary.
                    let snapshot = job.deploy == nil ? [:] : results
                    var executor = jobExecutor
                    if let github = job.github, github.failFast, github.variantCount > 1 {
                        let token = CancellationToken()
                        cancellation.onCancel(observer: ObjectIdentifier(token)) { [cancellation] in
                            token.cancel(reason: cancellation.reason ?? "cancelled", interrupt: cancellation.isInterrupt)
                        }
                        variantTokens[job.job, default: [:]][job.id] = token
                        executor.cancellation = token
                    }
                    group.addTask { [executor] in await executor.run(job, needed: needed, results: snapshot) }
                }
                guard running > 0, let result = await group.next() else { break }
                running -= 1
                finish(result)
            }
        }

        let ordered = plan.jobs.compactMap { results[$0.id] }
        record.jobs = ordered
        record.finishedAt = Date()
        record.durationMs = (clock.now - start).milliseconds
        if cancellation.isInterrupt && ordered.contains(where: { $0.status == .cancelled }) {
            record.status = .cancelled
        } else if ordered.contains(where: { ($0.status == .failed && !$0.continueOnError) || $0.status == .cancelled }) {
            record.status = .failed
        } else if ordered.contains(where: { $0.status == .blocked }) {
            record.status = .blocked
        } else {
            record.status = .success
        }
        if recordWrites.any { record.recordIncomplete = true }
        save(record)
        if recordWrites.any {
            observer.handle(
                .notice(
                    job: nil, level: .warning,
                    message:
                        "this run's record in \(options.runDirectory.root) may be incomplete (\(recordWrites.count) write(s) failed); `shipgate resume` and `shipgate explain` may not see every job"
                ))
        }
        observer.handle(.runFinished(record))
        return record
    }

    /// Every job each job depends on, directly or not.
    /// The job standing for a reusable workflow call is a barrier: what needs it sees the call's
    /// result, not the called jobs behind it (a called job skipped by its own `if:` does not hold
    /// back the caller's dependents).
    static func ancestors(_ jobs: [PlannedJob]) -> [String: Set<String>] {
        let needs = Dictionary(jobs.map { ($0.id, $0.needs) }, uniquingKeysWith: { a, _ in a })
        let standIns = Set(jobs.filter { $0.github?.collects != nil }.map(\.id))
        var memo: [String: Set<String>] = [:]
        func visit(_ id: String, _ depth: Int) -> Set<String> {
            if let known = memo[id] { return known }
            guard depth < jobs.count else { return [] }
            var all = Set<String>()
            for need in needs[id] ?? [] {
                all.insert(need)
                let above = visit(need, depth + 1)
                all.formUnion(standIns.contains(need) ? above.filter { !$0.hasPrefix(need + "/") } : above)
            }
            memo[id] = all
            return all
        }
        for job in jobs { _ = visit(job.id, 0) }
        return memo
    }

    private func save(_ record: RunResult) {
        do { try options.runDirectory.write(record) } catch {
            recordWrites.failed("cannot write the run record \(options.runDirectory.recordPath): \(RecordWrites.describe(error))")
        }
    }
}

/// Which job may start next: counts unmet needs and `after` edges and releases jobs in plan
/// order. A job is released once all of them have finished, whatever their status.
struct Scheduler {
    private let jobs: [PlannedJob]
    private var unmet: [Int]
    private var dependents: [[Int]]
    private var ready: [Int] = []  // plan indices, kept sorted
    private var indexOf: [String: Int] = [:]

    init(jobs: [PlannedJob]) {
        self.jobs = jobs
        for (i, job) in jobs.enumerated() { indexOf[job.id] = i }
        unmet = Array(repeating: 0, count: jobs.count)
        dependents = Array(repeating: [], count: jobs.count)
        for (i, job) in jobs.enumerated() {
            for need in job.needs + job.after {
                guard let n = indexOf[need] else { continue }  // not part of this run
                unmet[i] += 1
                dependents[n].append(i)
            }
            if unmet[i] == 0 { ready.append(i) }
        }
    }

    /// The next job to start, given how many run, whether one of them `runsAlone`, and the
    /// resource groups of those running: nothing starts beside a job that runs alone, and while
    /// one is ready, nothing new starts until the running jobs have ended (then it starts
    /// first); a job whose `resource-group` is busy waits, and the next ready job goes ahead.
    mutating func nextReady(running: Int = 0, alone: Bool = false, busy: Set<String> = [], full: Set<String> = []) -> PlannedJob? {
        guard !alone, !ready.isEmpty else { return nil }
        // A workflow matrix at its `max-parallel` (`full`): its other variants wait.
        let jobs = self.jobs
        let waiting = { (i: Int) in full.contains(jobs[i].job) || jobs[i].resourceGroup.map(busy.contains) == true }
        if let i = ready.firstIndex(where: { jobs[$0].runsAlone && !full.contains(jobs[$0].job) }) {
            return running > 0 || waiting(ready[i]) ? nil : jobs[ready.remove(at: i)]
        }
        guard let i = ready.firstIndex(where: { !waiting($0) }) else { return nil }
        return jobs[ready.remove(at: i)]
    }

    mutating func finished(_ id: String) {
        guard let i = indexOf[id] else { return }
        for d in dependents[i] {
            unmet[d] -= 1
            if unmet[d] == 0 {
                let at = ready.firstIndex { $0 > d } ?? ready.endIndex
                ready.insert(d, at: at)
            }
        }
    }
}

/// The run's own record writes that failed: the first of each kind is a warning (terminal and
/// events), and the run is then marked `recordIncomplete` (exit status 4 when its jobs succeeded).
final class RecordWrites: Sendable {
    private let observer: any RunObserver
    private let state = Mutex<(count: Int, warned: Set<String>)>((0, []))

    init(observer: any RunObserver) { self.observer = observer }

    var any: Bool { count > 0 }
    var count: Int { state.withLock { $0.count } }

    /// A file error in words: the POSIX reason under Foundation's wrapping ("No space left on device").
    static func describe(_ error: any Error) -> String {
        if let cocoa = error as? CocoaError, let underlying = cocoa.underlying {
            let ns = underlying as NSError
            if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return "\(error)"
    }

    /// `message` says what could not be written, where, and why.
    func failed(_ message: String) {
        let kind = String(message.prefix { $0 != "/" && $0 != "`" })
        let first = state.withLock { s in
            s.count += 1
            return s.warned.insert(kind).inserted
        }
        if first { observer.handle(.notice(job: nil, level: .warning, message: message + "; the run goes on, its record may be incomplete")) }
    }
}
