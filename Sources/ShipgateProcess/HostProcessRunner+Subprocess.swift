#if !os(Linux)
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

    /// The real `ProcessRunner` where the native supervisor does not run (not Linux), on
    /// swift-subprocess: each step is a child in its own process group (pgid = pid),
    /// stdout and stderr merged into one pipe and cut into lines as they arrive.
    ///
    /// Contract:
    /// - Timeout or cancellation: SIGTERM to the whole group, then a grace period of `killGrace`
    ///   that outlasts the step's shell: `/bin/sh -c` dies at once on SIGTERM, but the programs it
    ///   started may still be cleaning up, so the step ends only when the group is empty or, at the
    ///   end of the grace period, after SIGKILL to the group. Output keeps flowing meanwhile (the
    ///   runner owns the pipe, `StepOutputReader`). Grandchildren are in the group, so none survive.
    ///   The outcome is `.timedOut` / `.cancelled`. The watchdog stays armed until the process is
    ///   reaped: closing stdout does not escape it. (After the reap the group id can only name
    ///   processes still in the group: Linux does not reuse a pid while a process group of that id
    ///   exists.)
    /// - A step that ends by itself ends when its shell exits; output its background processes
    ///   print later is not read (they keep running until the job's attempt ends).
    /// - The group id of every started step is registered in `groups` until the job ends, so the
    ///   job can kill background processes its steps left behind (`ProcessGroups.killAll`).
    /// - Memory is bounded by the line splitter, whatever the step prints.
    public struct HostProcessRunner: ProcessRunner {
        public let groups: ProcessGroups?

        public init(groups: ProcessGroups = ProcessGroups()) { self.groups = groups }

        /// What the watchdog and the runner share about one step.
        private struct StepState {
            var pid: Int32?
            /// The shell was reaped (or never started): no new verdict after this.
            var exited = false
            var verdict: ProcessOutcome.Termination?
        }

        public func run(_ request: ProcessRequest, cancellation: CancellationToken, onLine: @escaping @Sendable (OutputLine) -> Void) async -> ProcessOutcome {
            var pipe: [Int32] = [-1, -1]
            guard StepOutputReader.makePipe(&pipe) else {
                return ProcessOutcome(termination: .failedToStart("cannot create a pipe (errno \(errno))"), pid: nil)
            }
            let clock = ContinuousClock()
            let lastOutput = Locked(clock.now)
            let reader = StepOutputReader(
                fd: pipe[0], onRead: { if request.idleTimeout != nil { lastOutput.withLock { $0 = clock.now } } }, onLine: onLine)
            guard let reader else {
                close(pipe[0])
                close(pipe[1])
                return ProcessOutcome(termination: .failedToStart("cannot start an output reader (errno \(errno))"), pid: nil)
            }
            var options = PlatformOptions()
            options.processGroupID = 0  // new group led by the child
            // Entries must be NUL-terminated: the library strdup()s each one.
            let env = Environment.custom(request.environment.entries)
            let executable: Executable = request.argv[0].contains("/") ? .path(FilePath(request.argv[0])) : .name(request.argv[0])
            let state = Locked(StepState())
            let groups = self.groups
            var outcome: Result<TerminationStatus, any Error>!
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await Self.watch(request, state: state, lastOutput: lastOutput, cancellation: cancellation) }
                do {
                    // The library closes both copies of the write end once the child has it.
                    outcome = .success(
                        try await Subprocess.run(
                            executable, arguments: Arguments(Array(request.argv.dropFirst())), environment: env,
                            workingDirectory: FilePath(request.workingDirectory), platformOptions: options,
                            input: .none, output: .fileDescriptor(FileDescriptor(rawValue: pipe[1]), closeAfterSpawningProcess: true),
                            error: .combinedWithOutput
                        ) { execution in
                            let pid = execution.processIdentifier.value
                            state.withLock { $0.pid = pid }
                            groups?.insert(pid)
                        }.terminationStatus)
                } catch {
                    outcome = .failure(error)
                }
                let forced = state.withLock { s in
                    s.exited = true
                    return s.verdict != nil
                }
                // Terminated: the watchdog ends the grace period (group empty, or SIGKILL).
                if !forced { group.cancelAll() }
            }
            await reader.finish()
            let pid = state.value.pid
            switch outcome! {
            case .failure(let error):
                return ProcessOutcome(termination: .failedToStart(Self.describe(error, request: request)), pid: pid)
            case .success(let status):
                if let forced = state.value.verdict {
                    // The group got SIGTERM; make sure nothing of it outlives the step.
                    if let pid { _ = kill(-pid, SIGKILL) }
                    return ProcessOutcome(termination: forced, pid: pid)
                }
                switch status {
                case .exited(let code): return ProcessOutcome(termination: .exited(Int32(code)), pid: pid)
                case .signaled(let signal): return ProcessOutcome(termination: .signaled(Int32(signal)), pid: pid)
                }
            }
        }

        /// The watchdog beside the process: at the deadline, after `idleTimeout` without output, or
        /// on cancellation it sends SIGTERM to the group, then waits until the group is empty once
        /// the shell has exited, or SIGKILLs it when `killGrace` has passed. Returns at once when
        /// cancelled before it fired.
        private static func watch(
            _ request: ProcessRequest, state: Locked<StepState>, lastOutput: Locked<ContinuousClock.Instant>, cancellation: CancellationToken
        ) async {
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: request.timeout.duration)
            var target: Int32?
            while target == nil {
                if Task.isCancelled { return }
                let silentUntil = request.idleTimeout.map { lastOutput.value.advanced(by: $0.duration) }
                target = state.withLock { s -> Int32? in
                    guard let pid = s.pid, !s.exited, s.verdict == nil else { return nil }
                    let now = clock.now
                    if cancellation.isCancelled {
                        s.verdict = .cancelled
                    } else if now >= deadline {
                        s.verdict = .timedOut
                    } else if let silentUntil, now >= silentUntil {
                        s.verdict = .idleTimedOut
                    }
                    return s.verdict == nil ? nil : pid
                }
                let next = min(deadline, silentUntil ?? deadline)
                if target == nil { try? await Task.sleep(for: max(.milliseconds(1), min(next - clock.now, .milliseconds(25)))) }
            }
            let pid = target!
            _ = kill(-pid, SIGTERM)
            let killAt = clock.now.advanced(by: request.killGrace.duration)
            while clock.now < killAt && !Task.isCancelled {
                if state.value.exited && ProcessGroups.isEmpty(pid) { return }
                try? await Task.sleep(for: .milliseconds(10))
            }
            _ = kill(-pid, SIGKILL)
        }

        private static func describe(_ error: any Error, request: ProcessRequest) -> String {
            var isDir = false
            var st = stat()
            if stat(request.workingDirectory, &st) == 0 { isDir = (st.st_mode & S_IFMT) == S_IFDIR }
            if !isDir { return "working directory \(request.workingDirectory) does not exist" }
            return "cannot start `\(request.argv[0])`: \(error)"
        }
    }
#endif
