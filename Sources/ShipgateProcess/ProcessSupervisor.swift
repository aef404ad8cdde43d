#if os(Linux)
    import CShipgatePosix
    import Glibc
    import Synchronization

    /// One thread that watches every process shipgate starts (ninja's shape: one loop, not a
    /// thread and a timer per child). It waits in `epoll` on each child's output pipe and on its
    /// `pidfd`, cuts output into lines, enforces timeouts, idle timeouts and cancellation, and
    /// resumes the caller once the child is over.
    ///
    /// Contract (what `HostProcessRunner` promises, enforced here):
    /// - Output is read until the child exits; then what is already in the pipe (at most
    ///   `drainLimit` bytes, so a background process that keeps printing cannot hold the step) is
    ///   delivered and the pipe is closed. Data written before the exit is never lost: it is in
    ///   the pipe when the pidfd becomes readable.
    /// - Timeout, idle timeout or cancellation: SIGTERM to the group, output keeps flowing, and
    ///   the step ends once its shell was reaped and the group is empty, or after SIGKILL to the
    ///   group when `killGrace` has passed. The group is SIGKILLed once more at the end.
    /// - `onLine` runs on the supervisor thread, never concurrently with itself. A slow `onLine`
    ///   delays every child's output (not its exit status or deadlines by more than its own time).
    /// - Memory: one 64 KiB read buffer and each child's line splitter.
    final class ProcessSupervisor: @unchecked Sendable {
        /// The process's supervisor, started on first use; nil when epoll or eventfd are missing.
        static let shared: ProcessSupervisor? = ProcessSupervisor()

        static let drainLimit = 4 << 20

        private let epoll: Int32
        private let wake: Int32
        /// Children handed over by `watch`, picked up by the loop.
        private let inbox = Mutex<[Child]>([])
        /// Owned by the loop thread.
        private var children: [UInt64: Child] = [:]
        private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        private let clock = ContinuousClock()

        private init?() {
            epoll = shipgate_epoll_create()
            wake = shipgate_eventfd()
            guard epoll >= 0, wake >= 0, shipgate_epoll_add(epoll, wake, 0) == 0 else { return nil }
            let box = Unmanaged.passRetained(self)
            var thread = pthread_t()
            let started = pthread_create(
                &thread, nil,
                { raw in
                    let supervisor = Unmanaged<ProcessSupervisor>.fromOpaque(raw!).takeUnretainedValue()
                    supervisor.loop()
                    return nil
                }, box.toOpaque())
            guard started == 0 else { return nil }
            pthread_detach(thread)
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
            var id: UInt64 = 0
            var splitter = LineSplitter()
            var deadline: ContinuousClock.Instant = .now
            var lastOutput: ContinuousClock.Instant = .now
            var verdict: ProcessOutcome.Termination?
            var killAt: ContinuousClock.Instant?
            var killed = false
            /// Set once the child was reaped.
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
            }
        }

        /// Hands a started child to the loop. Its pidfd and output pipe (non-blocking) now belong
        /// to the supervisor, which closes them and resumes `child.done` exactly once.
        func watch(_ child: Child) {
            inbox.withLock { $0.append(child) }
            child.cancellation.onCancel(observer: ObjectIdentifier(self)) { [self] in signal() }
            signal()
        }

        private func signal() {
            var one: UInt64 = 1
            _ = withUnsafeBytes(of: &one) { Posix.write(wake, $0) }
        }

        private var nextID: UInt64 = 1

        private func loop() {
            var tokens = [UInt64](repeating: 0, count: 64)
            while true {
                let timeout = nextTimeout()
                let n = tokens.withUnsafeMutableBufferPointer { shipgate_epoll_wait(epoll, $0.baseAddress, 64, timeout) }
                if n < 0 && errno != EINTR { continue }
                for i in 0..<max(0, Int(n)) {
                    let token = tokens[i]
                    if token == 0 {
                        adoptInbox()
                        continue
                    }
                    guard let child = children[token >> 1] else { continue }
                    if token & 1 == 0 { readOutput(child) } else { reap(child) }
                }
                let now = clock.now
                for child in Array(children.values) { check(child, now: now) }
            }
        }

        private func adoptInbox() {
            var count: UInt64 = 0
            _ = read(wake, &count, 8)
            let arrived = inbox.withLock { list -> [Child] in
                defer { list.removeAll(keepingCapacity: true) }
                return list
            }
            let now = clock.now
            for child in arrived {
                child.id = nextID
                nextID += 1
                child.deadline = now.advanced(by: child.request.timeout.duration)
                child.lastOutput = now
                children[child.id] = child
                _ = shipgate_epoll_add(epoll, child.output, child.id << 1)
                _ = shipgate_epoll_add(epoll, child.pidfd, child.id << 1 | 1)
            }
        }

        /// Milliseconds until the earliest thing the loop must do by itself; -1 when none.
        private func nextTimeout() -> Int32 {
            var earliest: ContinuousClock.Instant?
            func consider(_ t: ContinuousClock.Instant) { earliest = min(earliest ?? t, t) }
            let now = clock.now
            for child in children.values {
                if child.verdict == nil {
                    guard child.status == nil else { continue }
                    consider(child.deadline)
                    if let idle = child.request.idleTimeout { consider(child.lastOutput.advanced(by: idle.duration)) }
                } else if !child.killed {
                    if let killAt = child.killAt { consider(killAt) }
                    // Shell gone: look for an empty group every 10 ms.
                    if child.status != nil { consider(now.advanced(by: .milliseconds(10))) }
                }
            }
            guard let earliest else { return -1 }
            let wait = earliest - now
            if wait <= .zero { return 0 }
            let (seconds, attoseconds) = wait.components
            let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            return Int32(min(ms, 60_000))
        }

        /// One read (fair between children); end of file closes the pipe.
        private func readOutput(_ child: Child) {
            guard child.output >= 0 else { return }
            let n = buffer.withUnsafeMutableBytes { read(child.output, $0.baseAddress, $0.count) }
            if n > 0 {
                if child.request.idleTimeout != nil { child.lastOutput = clock.now }
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
            if child.verdict == nil { finish(child) }
        }

        /// Timers and the end of a terminated group.
        private func check(_ child: Child, now: ContinuousClock.Instant) {
            if child.verdict == nil {
                guard child.status == nil else { return }
                if child.cancellation.isCancelled {
                    child.verdict = .cancelled
                } else if now >= child.deadline {
                    child.verdict = .timedOut
                } else if let idle = child.request.idleTimeout, now >= child.lastOutput.advanced(by: idle.duration) {
                    child.verdict = .idleTimedOut
                } else {
                    return
                }
                _ = Posix.kill(-child.pid, SIGTERM)
                child.killAt = now.advanced(by: child.request.killGrace.duration)
                return
            }
            if !child.killed {
                if child.status != nil && ProcessGroups.isEmpty(child.pid) {
                    finish(child)
                } else if let killAt = child.killAt, now >= killAt {
                    _ = Posix.kill(-child.pid, SIGKILL)
                    child.killed = true
                    if child.status != nil { finish(child) }
                }
            } else if child.status != nil {
                finish(child)
            }
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
            let termination: ProcessOutcome.Termination
            if let verdict = child.verdict {
                // The group got SIGTERM; make sure nothing of it outlives the step.
                _ = Posix.kill(-child.pid, SIGKILL)
                termination = verdict
            } else {
                termination = child.status!
            }
            child.done.resume(returning: ProcessOutcome(termination: termination, pid: child.pid))
        }
    }
#endif
