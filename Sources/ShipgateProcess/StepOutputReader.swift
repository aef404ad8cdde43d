// Used only by the swift-subprocess runner (`HostProcessRunner+Subprocess.swift`, not Linux);
// on Linux `ProcessSupervisor` reads every pipe.
#if !os(Linux)
    import Synchronization

    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Darwin)
        import Darwin
    #endif

    /// Reads a step's output pipe on a thread of its own and cuts it into lines.
    ///
    /// The runner owns the pipe (not the process library) so that output keeps flowing after the
    /// step's shell has exited: a program still cleaning up in the grace period can print without
    /// meeting a closed pipe (`SIGPIPE`). The reader follows the pipe until end of file, or until
    /// `finish()`: then it reads what is already in the pipe (at most `drainLimit` bytes, so a
    /// background process that keeps printing cannot hold the step) and stops.
    ///
    /// Lifecycle: `init` starts the thread; `finish()` must be called once and returns when the
    /// thread has delivered its last line and closed the pipe. `onRead` (after every read, bytes
    /// or not a whole line yet: a progress bar drawn with `\r` counts) and `onLine` are called on
    /// the reader thread only, never concurrently with themselves; memory is bounded by the line
    /// splitter.
    final class StepOutputReader: Sendable {
        private struct State {
            var finished = false
            var waiter: CheckedContinuation<Void, Never>?
        }

        private let fd: Int32
        /// Written to by `finish()` to wake the thread (the self-pipe trick).
        private let wakeRead: Int32
        private let wakeWrite: Int32
        private let state = Mutex(State())
        private let onLine: @Sendable (OutputLine) -> Void
        private let onRead: @Sendable () -> Void
        static let drainLimit = 4 << 20

        /// Starts reading `fd` (the read end of the step's pipe; closed by the reader). Nil when
        /// the wake pipe or the thread cannot be created.
        init?(fd: Int32, onRead: @escaping @Sendable () -> Void = {}, onLine: @escaping @Sendable (OutputLine) -> Void) {
            var wake: [Int32] = [-1, -1]
            guard Self.makePipe(&wake) else { return nil }
            self.fd = fd
            wakeRead = wake[0]
            wakeWrite = wake[1]
            self.onLine = onLine
            self.onRead = onRead
            let box = Unmanaged.passRetained(self)
            var thread = pthread_t()
            let started = pthread_create(
                &thread, nil,
                { raw in
                    let reader = Unmanaged<StepOutputReader>.fromOpaque(raw!).takeRetainedValue()
                    reader.loop()
                    return nil
                }, box.toOpaque())
            guard started == 0 else {
                box.release()
                close(wake[0])
                close(wake[1])
                return nil
            }
            pthread_detach(thread)
        }

        /// A pipe whose ends are closed on exec. (`pipe2` is not visible from Swift on Glibc; the
        /// moment between `pipe` and `fcntl` does not leak: swift-subprocess closes every
        /// descriptor above 2 in the children it starts.)
        static func makePipe(_ fds: inout [Int32]) -> Bool {
            guard pipe(&fds) == 0 else { return false }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            return true
        }

        /// Stops following the pipe: what is in it now is still delivered. Returns once the last
        /// line was delivered.
        func finish() async {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s in
                    if s.finished { return true }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        }

        private func loop() {
            var splitter = LineSplitter()
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var draining = false
            var drained = 0
            reading: while true {
                var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
                let ready = poll(&fds, draining ? 1 : 2, draining ? 0 : -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if draining && ready == 0 { break }  // the pipe is empty
                if !draining && fds[1].revents != 0 {
                    draining = true
                    continue
                }
                guard fds[0].revents != 0 else { continue }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    break
                }
                if n == 0 { break }  // end of file: every writer closed the pipe
                onRead()
                buffer.withUnsafeBytes { splitter.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), emit: onLine) }
                if draining {
                    drained += n
                    if drained >= Self.drainLimit { break reading }
                }
            }
            splitter.finish(emit: onLine)
            close(fd)
            // Wait for `finish()` before closing the wake pipe, so its write never meets a closed fd.
            let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
                s.finished = true
                return s.waiter
            }
            if let waiter { end(waiter) } else { lingerForFinish() }
        }

        /// The pipe ended before `finish()` was called: wait for its wake byte, then end.
        private func lingerForFinish() {
            var byte: UInt8 = 0
            while read(wakeRead, &byte, 1) < 0 && errno == EINTR {}
            let waiter = state.withLock { $0.waiter }
            close(wakeRead)
            close(wakeWrite)
            waiter?.resume()
        }

        private func end(_ waiter: CheckedContinuation<Void, Never>) {
            close(wakeRead)
            close(wakeWrite)
            waiter.resume()
        }
    }
#endif
