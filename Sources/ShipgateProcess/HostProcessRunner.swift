#if os(Linux)
    import CShipgatePosix
    import Glibc

    /// The real `ProcessRunner`: each step is a child in its own process group (pgid = pid),
    /// started with `posix_spawn`, stdout and stderr merged into one pipe, and watched with every
    /// other child by the one `ProcessSupervisor` thread.
    ///
    /// Contract:
    /// - The child gets exactly `request.environment`, stdin from /dev/null, no descriptor but
    ///   0–2, an empty signal mask and default signal dispositions. A bare `argv[0]` is looked up
    ///   in the child's own `PATH` (as `execvpe` does), not shipgate's.
    /// - Timeout or cancellation: SIGTERM to the whole group, then a grace period of `killGrace`
    ///   that outlasts the step's shell: `/bin/sh -c` dies at once on SIGTERM, but the programs it
    ///   started may still be cleaning up, so the step ends only when the group is empty or, at the
    ///   end of the grace period, after SIGKILL to the group. Output keeps flowing meanwhile.
    ///   Grandchildren are in the group, so none survive. The outcome is `.timedOut` / `.cancelled`.
    ///   (After the reap the group id can only name processes still in the group: Linux does not
    ///   reuse a pid while a process group of that id exists.)
    /// - A step that ends by itself ends when its shell exits; output its background processes
    ///   print later is not read (they keep running until the job's attempt ends).
    /// - The group id of every started step is registered in `groups` until the job ends, so the
    ///   job can kill background processes its steps left behind (`ProcessGroups.kill`).
    /// - Memory is bounded by the line splitter, whatever the step prints.
    public struct HostProcessRunner: ProcessRunner {
        public let groups: ProcessGroups?

        public init(groups: ProcessGroups = ProcessGroups()) { self.groups = groups }

        public func run(_ request: ProcessRequest, cancellation: CancellationToken, onLine: @escaping @Sendable (OutputLine) -> Void) async
            -> ProcessOutcome
        {
            guard let supervisor = ProcessSupervisor.shared else {
                return ProcessOutcome(
                    termination: .failedToStart("cannot start the process supervisor (epoll, eventfd and pidfd_open; shipgate needs Linux 5.3 or later)"),
                    pid: nil)
            }
            guard let executable = Self.resolve(request) else {
                return ProcessOutcome(termination: .failedToStart(Self.describe(ENOENT, request: request)), pid: nil)
            }
            var pipe: [Int32] = [-1, -1]
            guard shipgate_pipe_cloexec(&pipe) == 0 else {
                return ProcessOutcome(termination: .failedToStart("cannot create a pipe (errno \(errno))"), pid: nil)
            }
            var pid: pid_t = 0
            let rc = Self.spawn(executable, request: request, output: pipe[1], pid: &pid)
            close(pipe[1])
            guard rc == 0 else {
                close(pipe[0])
                return ProcessOutcome(termination: .failedToStart(Self.describe(rc, request: request)), pid: nil)
            }
            groups?.insert(pid)
            let pidfd = shipgate_pidfd_open(pid)
            guard pidfd >= 0 else {
                let error = errno
                _ = Posix.kill(-pid, SIGKILL)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                close(pipe[0])
                return ProcessOutcome(termination: .failedToStart("pidfd_open failed (errno \(error)); shipgate needs Linux 5.3 or later"), pid: pid)
            }
            _ = shipgate_set_nonblocking(pipe[0])
            return await withCheckedContinuation { done in
                supervisor.watch(
                    ProcessSupervisor.Child(
                        pid: pid, pidfd: pidfd, output: pipe[0], request: request, cancellation: cancellation, onLine: onLine, done: done))
            }
        }

        private static func spawn(_ executable: String, request: ProcessRequest, output: Int32, pid: inout pid_t) -> Int32 {
            var argv: [UnsafeMutablePointer<CChar>?] = request.argv.map { strdup($0) }
            argv.append(nil)
            var envp: [UnsafeMutablePointer<CChar>?] = request.environment.entries.map { entry in
                entry.withUnsafeBufferPointer { bytes in
                    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
                    bytes.withMemoryRebound(to: CChar.self) { copy.initialize(from: $0.baseAddress!, count: $0.count) }
                    return copy
                }
            }
            envp.append(nil)
            defer {
                for p in argv { free(p) }
                for p in envp { p?.deallocate() }
            }
            return shipgate_spawn(executable, argv, envp, request.workingDirectory, output, &pid)
        }

        /// `argv[0]` itself when it names a path; else the first executable file of that name in
        /// the child's `PATH` (its override, else the base's), a relative entry (`.`, empty, `bin`)
        /// taken from the step's working directory, as the child would. Nil when there is none.
        static func resolve(_ request: ProcessRequest) -> String? {
            let name = request.argv.first ?? ""
            if name.isEmpty { return nil }
            if name.contains("/") { return name }
            let path = request.environment.value(of: "PATH") ?? "/usr/local/bin:/usr/bin:/bin"
            for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
                let entry = dir.isEmpty ? "." : String(dir)
                let candidate = (entry.hasPrefix("/") ? entry : request.workingDirectory + "/" + entry) + "/" + name
                var st = stat()
                if stat(candidate, &st) == 0, st.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 { return candidate }
            }
            return nil
        }

        private static func describe(_ error: Int32, request: ProcessRequest) -> String {
            var st = stat()
            if stat(request.workingDirectory, &st) != 0 || st.st_mode & S_IFMT != S_IFDIR {
                return "working directory \(request.workingDirectory) does not exist"
            }
            if error == ENOENT && !(request.argv.first ?? "").contains("/") {
                return "cannot start `\(request.argv.first ?? "")`: not found in the step's PATH"
            }
            return "cannot start `\(request.argv.first ?? "")`: \(String(cString: strerror(error)))"
        }
    }
#endif
