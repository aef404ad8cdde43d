import ShipgateModel
import Subprocess
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// The real `ProcessRunner`: each step is a child in its own process group (pgid = pid),
/// stdout and stderr merged into one pipe and cut into lines as they arrive.
///
/// Contract:
/// - Timeout or cancellation: SIGTERM to the whole group, SIGKILL after `killGrace`.
///   Grandchildren are in the group, so none survive. The outcome is `.timedOut` / `.cancelled`.
///   The watchdog stays armed until the process is reaped: closing stdout does not escape it.
///   (After the reap the group id can only name processes still in the group: Linux does not
///   reuse a pid while a process group of that id exists.)
/// - The group id of every started step is registered in `groups` until the job ends, so the
///   job can kill background processes its steps left behind (`ProcessGroups.killAll`).
/// - Memory is bounded by the line splitter, whatever the step prints.
public struct SubprocessRunner: ProcessRunner {
    public let groups: ProcessGroups

    public init(groups: ProcessGroups = ProcessGroups()) { self.groups = groups }

    public func run(_ request: ProcessRequest, cancellation: CancellationToken, onLine: @escaping @Sendable (OutputLine) -> Void) async -> ProcessOutcome {
        var options = PlatformOptions()
        options.processGroupID = 0  // new group led by the child
        // Entries must be NUL-terminated: the library strdup()s each one.
        let env = Environment.custom(request.environment.entries)
        let executable: Executable = request.argv[0].contains("/") ? .path(FilePath(request.argv[0])) : .name(request.argv[0])
        let verdict = Locked<ProcessOutcome.Termination?>(nil)
        let pidBox = Locked<Int32?>(nil)
        let groups = self.groups
        var outcome: Result<ExecutionResult<Void, SequenceOutput, CombinedErrorOutput>, any Error>!
        await withTaskGroup(of: Void.self) { group in
            // Watchdog beside the process: at the deadline or on cancellation it terminates the
            // group (SIGTERM, then SIGKILL after the grace). Armed until the process has exited
            // and been reaped, even if the step closed its output long before.
            group.addTask {
                let clock = ContinuousClock()
                let deadline = clock.now.advanced(by: request.timeout.duration)
                while !Task.isCancelled {
                    let cancelled = cancellation.isCancelled
                    if let pid = pidBox.value, cancelled || clock.now >= deadline {
                        verdict.withLock { $0 = cancelled ? .cancelled : .timedOut }
                        _ = kill(-pid, SIGTERM)
                        let killAt = clock.now.advanced(by: request.killGrace.duration)
                        while !Task.isCancelled && clock.now < killAt {
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                        _ = kill(-pid, SIGKILL)
                        return
                    }
                    try? await Task.sleep(for: max(.milliseconds(1), min(deadline - clock.now, .milliseconds(25))))
                }
            }
            do {
                outcome = .success(
                    try await Subprocess.run(
                        executable, arguments: Arguments(Array(request.argv.dropFirst())), environment: env,
                        workingDirectory: FilePath(request.workingDirectory), platformOptions: options,
                        input: .none, output: .sequence, error: .combinedWithOutput
                    ) { execution in
                        let pid = execution.processIdentifier.value
                        pidBox.withLock { $0 = pid }
                        groups.insert(pid)
                        var splitter = LineSplitter()
                        do {
                            for try await buffer in execution.standardOutput {
                                buffer.withUnsafeBytes { splitter.feed($0, emit: onLine) }
                            }
                        } catch {}
                        splitter.finish(emit: onLine)
                    })
            } catch {
                outcome = .failure(error)
            }
            group.cancelAll()
        }
        let pid = pidBox.value
        switch outcome! {
        case .failure(let error):
            return ProcessOutcome(termination: .failedToStart(Self.describe(error, request: request)), pid: pid)
        case .success(let result):
            if let forced = verdict.value {
                // The group got SIGTERM; make sure nothing of it outlives the step.
                if let pid { _ = kill(-pid, SIGKILL) }
                return ProcessOutcome(termination: forced, pid: pid)
            }
            switch result.terminationStatus {
            case .exited(let code): return ProcessOutcome(termination: .exited(Int32(code)), pid: pid)
            case .signaled(let signal): return ProcessOutcome(termination: .signaled(Int32(signal)), pid: pid)
            }
        }
    }

    private static func describe(_ error: any Error, request: ProcessRequest) -> String {
        var isDir = false
        var st = stat()
        if stat(request.workingDirectory, &st) == 0 { isDir = (st.st_mode & S_IFMT) == S_IFDIR }
        if !isDir { return "working directory \(request.workingDirectory) does not exist" }
        return "cannot start `\(request.argv[0])`: \(error)"
    }
}

/// Process groups started by steps, so that leftovers can be killed when their job ends
/// and everything can be killed when shipgate is interrupted. Thread-safe.
public final class ProcessGroups: Sendable {
    fileprivate let live = Mutex<Set<Int32>>([])
    /// Told of every group, to kill them if shipgate dies (see `OrphanReaper`).
    public let reaper: OrphanReaper?

    public init(reaper: OrphanReaper? = nil) { self.reaper = reaper }

    func insert(_ pgid: Int32) {
        if live.withLock({ $0.insert(pgid).inserted }) { reaper?.started(pgid) }
    }

    /// SIGKILLs the given groups (background processes a job's steps left running) and forgets them.
    /// A group that no longer exists is ignored.
    public func kill(_ pgids: [Int32]) {
        live.withLock { set in
            for pgid in pgids where set.remove(pgid) != nil {
                _ = Posix.kill(-pgid, SIGKILL)
                reaper?.ended(pgid)
            }
        }
    }

    public var count: Int { live.withLock { $0.count } }
}

extension ProcessGroups {
    /// SIGKILLs every group still registered. For a forced exit (second Ctrl-C).
    public func killEverything() {
        live.withLock { set in
            for pgid in set {
                _ = Posix.kill(-pgid, SIGKILL)
                reaper?.ended(pgid)
            }
            set.removeAll()
        }
    }
}
