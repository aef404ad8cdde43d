#if os(Linux)
    import CShipgatePosix
    import ShipgateModel
    import Glibc
    import Synchronization

    /// Two threads that watch every process shipgate starts (ninja's shape: one loop, not a
    /// thread and a timer per child):
    /// - the *reader* waits in `epoll` on each child's output pipe and `pidfd`, cuts output into
    ///   lines, reaps, and resumes the caller once the child is over;
    /// - the *timekeeper* enforces timeouts, idle timeouts and cancellation: SIGTERM to the group,
    ///   SIGKILL when the grace period is over. It never calls code outside this file, so a
    ///   consumer of output that blocks (a stalled terminal or pipe) cannot hold a deadline.
    ///
    /// Contract (what `HostProcessRunner` promises):
    /// - Output is read until the child exits; then what is already in the pipe (at most
    ///   `drainLimit` bytes, so a background process that keeps printing cannot hold the step) is
    ///   delivered and the pipe is closed. Data written before the exit is never lost: it is in
    ///   the pipe when the pidfd becomes readable.
    /// - Timeout, idle timeout or cancellation: SIGTERM to the group, output keeps flowing, and
    ///   the step ends once its shell was reaped and the group is empty, or after SIGKILL to the
    ///   group when `killGrace` has passed. The group is SIGKILLed once more at the end. No signal
    ///   is sent to a group after its step's outcome was delivered.
    /// - `onLine` runs on the reader thread, never concurrently with itself. A slow `onLine`
    ///   delays every child's output and the delivery of outcomes, never a kill.
    /// - Memory: one 64 KiB read buffer and each child's line splitter.
    final class ProcessSupervisor: @unchecked Sendable {
        /// The process's supervisor, started on first use; nil when epoll, eventfd or pidfd_open
        /// (Linux 5.3) are missing, so that no step is started that could not be watched.
        static let shared: ProcessSupervisor? = ProcessSupervisor()

        static let drainLimit = 4 << 20

        private let epoll: Int32
        /// Wakes the reader (new children, a verdict or a kill to act on).
        private let wake: Int32
        /// Wakes the timekeeper (new children, cancellation).
        private let tick: Int32
        /// Children handed over by `watch`, picked up by the reader.
        private let inbox = Mutex<[Child]>([])
        /// Children the timekeeper watches, until their outcome is delivered, and when it will
        /// look next by itself (nil: only when woken), so a new child wakes it only when it must
        /// be looked at sooner (a deadline of minutes costs no wake-up per step).
        private let timed = Mutex(Timed())

        struct Timed {
            var children: [ObjectIdentifier: Child] = [:]
            var next: ContinuousClock.Instant?
            /// Counts hand-overs, so the timekeeper sees one that came during its scan.
            var added = 0
        }
        /// Owned by the reader thread.
        private var children: [UInt64: Child] = [:]
        private var nextID: UInt64 = 1
        private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        private let clock = ContinuousClock()

        private init?() {
            let probe = shipgate_pidfd_open(getpid())
            guard probe >= 0 else { return nil }
            close(probe)
            epoll = shipgate_epoll_create()
            wake = shipgate_eventfd()
            tick = shipgate_eventfd()
            guard epoll >= 0, wake >= 0, tick >= 0, shipgate_epoll_add(epoll, wake, 0) == 0 else { return nil }
            guard Self.startThread(self, { $0.readLoop() }), Self.startThread(self, { $0.timeLoop() }) else { return nil }
        }

        private static func startThread(_ supervisor: ProcessSupervisor, _ body: @escaping (ProcessSupervisor) -> Void) -> Bool {
            final class Start {
                let supervisor: ProcessSupervisor
                let body: (ProcessSupervisor) -> Void
                init(_ supervisor: ProcessSupervisor, _ body: @escaping (ProcessSupervisor) -> Void) {
                    self.supervisor = supervisor
                    self.body = body
                }
            }
            let box = Unmanaged.passRetained(Start(supervisor, body))
            var thread = pthread_t()
            let started = pthread_create(
                &thread, nil,
                { raw in
                    let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
                    start.body(start.supervisor)
                    return nil
                }, box.toOpaque())
            guard started == 0 else {
                box.release()
                return false
            }
            pthread_detach(thread)
            return true
        }

        /// What the timekeeper and the reader share about one child, under its lock.
        struct Timing {
            var deadline: ContinuousClock.Instant
            var lastOutput: ContinuousClock.Instant
            var verdict: ProcessOutcome.Termination?
            var killAt: ContinuousClock.Instant?
            var killed = false
            /// The shell was reaped: no new verdict after this.
            var exited = false
            /// The outcome was delivered: no signal after this (the group id may be reused).
            var done = false

            /// When the timeout or the idle timeout falls due, whichever is first.
            func due(idle: TimeSpan?) -> ContinuousClock.Instant {
                min(deadline, idle.map { lastOutput.advanced(by: $0.duration) } ?? deadline)
            }
        }

        /// One started child, from hand-over until its outcome is delivered.
        final class Child: @unchecked Sendable {
            let pid: Int32
            var pidfd: Int32
            var output: Int32
            let request: ProcessRequest
            let cancellation: CancellationToken
            let onLine: @Sendable (OutputLine) -> Void
            let done: CheckedContinuation<ProcessOutcome, Never>
            let timing: Mutex<Timing>
            var id: UInt64 = 0
            var splitter = LineSplitter()
            /// Set by the reader once the child was reaped.
            var status: ProcessOutcome.Termination?

            init(
                pid: Int32, pidfd: Int32, output: Int32, request: ProcessRequest, cancellation: CancellationToken,
                onLine: @escaping @Sendable (OutputLine) -> Void, done: CheckedContinuation<ProcessOutcome, Never>
            ) {
                self.pid = pid
                self.pidfd = pidfd
                self.output = output
                self.request = request
                self.cancellation = cancellation
                self.onLine = onLine
                self.done = done
                let now = ContinuousClock.now
                timing = Mutex(Timing(deadline: now.advanced(by: request.timeout.duration), lastOutput: now))
            }
        }

        /// Hands a started child over. Its pidfd and output pipe (non-blocking) now belong to the
        /// supervisor, which closes them and resumes `child.done` exactly once.
        func watch(_ child: Child) {
            inbox.withLock { $0.append(child) }
            let first = child.timing.withLock { $0.due(idle: child.request.idleTimeout) }
            let sooner = timed.withLock { state -> Bool in
                state.children[ObjectIdentifier(child)] = child
                state.added += 1
                guard state.next.map({ first < $0 }) ?? true else { return false }
                state.next = first
                return true
            }
            child.cancellation.onCancel(observer: ObjectIdentifier(self)) { [self] in Self.signal(tick) }
            Self.signal(wake)
            if sooner { Self.signal(tick) }
        }

        private static func signal(_ fd: Int32) {
            var one: UInt64 = 1
            _ = withUnsafeBytes(of: &one) { Posix.write(fd, $0) }
        }

        private static func drain(_ fd: Int32) {
            var count: UInt64 = 0
            _ = read(fd, &count, 8)
        }

        // MARK: The timekeeper

        private func timeLoop() {
            while true {
                let now = clock.now
                var earliest: ContinuousClock.Instant?
                var act = false
                let (children, seen) = timed.withLock { (Array($0.children.values), $0.added) }
                for child in children {
                    let (next, acted) = keepTime(child, now: now)
                    if let next { earliest = min(earliest ?? next, next) }
                    act = act || acted
                }
                if act { Self.signal(wake) }
                // A child handed over during the scan was not in it: scan again at once.
                let rescan = timed.withLock { state -> Bool in
                    if state.added != seen { return true }
                    state.next = earliest
                    return false
                }
                if rescan { continue }
                var pfd = pollfd(fd: tick, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, Self.milliseconds(until: earliest, now: clock.now))
                Self.drain(tick)
            }
        }

        /// Verdicts and kills for one child; the next instant it needs looking at, and whether the
        /// reader has something to act on.
        private func keepTime(_ child: Child, now: ContinuousClock.Instant) -> (ContinuousClock.Instant?, Bool) {
            child.timing.withLock { t in
                if t.done { return (nil, false) }
                if t.verdict == nil {
                    if t.exited { return (nil, false) }
                    let due = t.due(idle: child.request.idleTimeout)
                    if child.cancellation.isCancelled {
                        t.verdict = .cancelled
                    } else if now >= t.deadline {
                        t.verdict = .timedOut
                    } else if now >= due {
                        t.verdict = .idleTimedOut
                    } else {
                        return (due, false)
                    }
                    _ = Posix.kill(-child.pid, SIGTERM)
                    t.killAt = now.advanced(by: child.request.killGrace.duration)
                    return (t.killAt, true)
                }
                guard !t.killed, let killAt = t.killAt else { return (nil, false) }
                if now < killAt { return (killAt, false) }
                _ = Posix.kill(-child.pid, SIGKILL)
                t.killed = true
                return (nil, true)
            }
        }

        private static func milliseconds(until instant: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> Int32 {
            guard let instant else { return -1 }
            let wait = instant - now
            if wait <= .zero { return 0 }
            let (seconds, attoseconds) = wait.components
            let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            return Int32(min(ms, 60_000))
        }

        // MARK: The reader

        private func readLoop() {
            var tokens = [UInt64](repeating: 0, count: 64)
            while true {
                let timeout = nextPoll()
                let n = tokens.withUnsafeMutableBufferPointer { shipgate_epoll_wait(epoll, $0.baseAddress, 64, timeout) }
                if n < 0 && errno != EINTR {
                    usleep(1000)  // cannot happen with a valid epoll fd; never spin
                    continue
                }
                for i in 0..<max(0, Int(n)) {
                    let token = tokens[i]
                    if token == 0 {
                        Self.drain(wake)
                        adoptInbox()
                        continue
                    }
                    guard let child = children[token >> 1] else { continue }
                    if token & 1 == 0 { readOutput(child) } else { reap(child) }
                }
                for child in Array(children.values) { endIfTerminated(child) }
            }
        }

        private func adoptInbox() {
            let arrived = inbox.withLock { list -> [Child] in
                defer { list.removeAll(keepingCapacity: true) }
                return list
            }
            for child in arrived {
                child.id = nextID
                nextID += 1
                children[child.id] = child
                _ = shipgate_epoll_add(epoll, child.output, child.id << 1)
                _ = shipgate_epoll_add(epoll, child.pidfd, child.id << 1 | 1)
            }
        }

        /// Milliseconds until the reader must look by itself: every 10 ms for a terminated child
        /// whose shell is gone (is its group empty yet?); else only when woken.
        private func nextPoll() -> Int32 {
            for child in children.values where child.status != nil {
                if child.timing.withLock({ $0.verdict != nil && !$0.killed }) { return 10 }
            }
            return -1
        }

        /// One read (fair between children); end of file closes the pipe.
        private func readOutput(_ child: Child) {
            guard child.output >= 0 else { return }
            let n = buffer.withUnsafeMutableBytes { read(child.output, $0.baseAddress, $0.count) }
            if n > 0 {
                if child.request.idleTimeout != nil {
                    let now = clock.now
                    child.timing.withLock { $0.lastOutput = now }
                }
                buffer.withUnsafeBytes { child.splitter.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), emit: child.onLine) }
            } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                closeOutput(child)
            }
        }

        private func closeOutput(_ child: Child) {
            guard child.output >= 0 else { return }
            child.splitter.finish(emit: child.onLine)
            _ = shipgate_epoll_remove(epoll, child.output)
            close(child.output)
            child.output = -1
        }

        private func reap(_ child: Child) {
            var status: Int32 = 0
            let r = waitpid(child.pid, &status, WNOHANG)
            if r == 0 { return }  // not yet (a spurious wake-up)
            _ = shipgate_epoll_remove(epoll, child.pidfd)
            close(child.pidfd)
            child.pidfd = -1
            if r < 0 {
                child.status = .failedToStart("lost track of process \(child.pid) (errno \(errno))")
            } else if status & 0x7f == 0 {
                child.status = .exited((status >> 8) & 0xff)
            } else {
                child.status = .signaled(status & 0x7f)
            }
            let terminated = child.timing.withLock { t -> Bool in
                t.exited = true
                return t.verdict != nil
            }
            if !terminated { finish(child) }
        }

        /// A terminated child ends once its shell is reaped and its group is empty, or was killed.
        private func endIfTerminated(_ child: Child) {
            guard child.status != nil else { return }
            let (verdict, killed) = child.timing.withLock { ($0.verdict, $0.killed) }
            guard verdict != nil else { return }
            if killed || ProcessGroups.isEmpty(child.pid) { finish(child) }
        }

        /// Delivers what is already in the pipe, closes it and resumes the caller.
        private func finish(_ child: Child) {
            var drained = 0
            while child.output >= 0 && drained < Self.drainLimit {
                let n = buffer.withUnsafeMutableBytes { read(child.output, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                drained += n
                buffer.withUnsafeBytes { child.splitter.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), emit: child.onLine) }
            }
            closeOutput(child)
            if child.pidfd >= 0 {
                _ = shipgate_epoll_remove(epoll, child.pidfd)
                close(child.pidfd)
                child.pidfd = -1
            }
            children[child.id] = nil
            timed.withLock { $0.children[ObjectIdentifier(child)] = nil }
            let verdict = child.timing.withLock { t -> ProcessOutcome.Termination? in
                // The group got SIGTERM; make sure nothing of it outlives the step. Under the lock,
                // before `done`: the timekeeper sends nothing after it.
                if t.verdict != nil { _ = Posix.kill(-child.pid, SIGKILL) }
                t.done = true
                return t.verdict
            }
            child.done.resume(returning: ProcessOutcome(termination: verdict ?? child.status!, pid: child.pid))
        }
    }
#endif
