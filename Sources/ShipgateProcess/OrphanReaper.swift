import CShipgatePosix
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Kills a run's step processes when shipgate itself dies without cleaning up (`kill -9`,
/// the OOM killer): otherwise they would run on, orphaned, holding ports and files.
///
/// A small helper process (`shipgate __reap`, in its own process group so terminal signals
/// do not reach it) reads, on a socket, the process group of every step as it starts (`+PGID`)
/// and as its job ends (`-PGID`). When shipgate exits normally it says `done` and the helper
/// exits; when the socket closes without `done`, shipgate died, and the helper sends SIGTERM to
/// every group still listed, then SIGKILL a second later.
///
/// Residual window: a step spawned in the instant before its group is reported is not known
/// to the helper.
public final class OrphanReaper: Sendable {
    private let socket: Mutex<Int32>
    /// The helper process.
    public let pid: Int32

    private init(socket: Int32, pid: Int32) {
        self.socket = Mutex(socket)
        self.pid = pid
    }

    /// Starts the helper (`executable __reap`); nil when it cannot be started (the run goes on
    /// without it).
    public static func start(executable: String) -> OrphanReaper? {
        var fds: [Int32] = [-1, -1]
        #if canImport(Glibc)
            let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
            let type = SOCK_STREAM
        #endif
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { return nil }
        #if canImport(Darwin)
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        #endif
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        let devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        if devnull >= 0 { posix_spawn_file_actions_adddup2(&actions, devnull, 1) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(executable), strdup("__reap"), nil]
        defer { for p in argv { free(p) } }
        // An empty environment: the helper needs none, and holds no secret a step could read.
        let envp: [UnsafeMutablePointer<CChar>?] = [nil]
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(fds[0])
        if devnull >= 0 { close(devnull) }
        guard spawned == 0 else {
            close(fds[1])
            return nil
        }
        return OrphanReaper(socket: fds[1], pid: pid)
    }

    func started(_ pgid: Int32) { send("+\(pgid)\n") }
    func ended(_ pgid: Int32) { send("-\(pgid)\n") }

    /// The run ended normally: the helper exits without killing anything.
    public func finish() {
        send("done\n")
        socket.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    private func send(_ line: String) {
        socket.withLock { fd in
            guard fd >= 0 else { return }
            let bytes = Array(line.utf8)
            #if canImport(Glibc)
                let flags = Int32(MSG_NOSIGNAL)
            #else
                let flags: Int32 = 0
            #endif
            // A dead helper must not take the run down: no SIGPIPE, errors ignored.
            if bytes.withUnsafeBytes({ Foundation.send(fd, $0.baseAddress, $0.count, flags) }) < 0 {
                close(fd)
                fd = -1
            }
        }
    }

    /// The helper's loop (`shipgate __reap`): reads standard input until it closes, then
    /// kills what is left unless told `done`.
    public static func serve() -> Never {
        signal(SIGINT, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var groups = Set<Int32>()
        var done = false
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            pending += buffer[0..<n]
            while let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line == "done" {
                    done = true
                } else if let pgid = Int32(line.dropFirst()), pgid > 1 {
                    if line.hasPrefix("+") { groups.insert(pgid) } else { groups.remove(pgid) }
                }
            }
        }
        if !done, !groups.isEmpty {
            for g in groups { _ = kill(-g, SIGTERM) }
            usleep(1_000_000)
            for g in groups { _ = kill(-g, SIGKILL) }
        }
        exit(0)
    }
}

/// Daemons a step detached (double fork and `setsid`: a new process group, out of reach of the
/// group kill). With `adopt()`, they become children of shipgate instead of init; `stopAdopted`
/// kills and reaps them when the run ends. Linux only; elsewhere they are not tracked.
///
/// Steps with `detach: true` run with `SHIPGATE_DETACH_ID` (`markVariable`) set; once such a
/// step succeeded, its id is `keep`-ed, and `stopAdopted(sparingDetached: true)` leaves the
/// processes that carry it (in their environment, inherited from the step) running.
public enum DetachedProcesses {
    public static let markVariable = "SHIPGATE_DETACH_ID"
    private static let kept = Mutex<Set<String>>([])

    /// Call once, before any step starts.
    public static func adopt() { _ = shipgate_become_child_subreaper() }

    /// The processes marked with `id` (a succeeded `detach` step's) are to be kept.
    public static func keep(_ id: String) { _ = kept.withLock { $0.insert(id) } }

    /// SIGKILLs and reaps every child of this process except `keep` (the reaper helper) and
    /// the steps still running, and, with `sparingDetached`, those a succeeded `detach` step
    /// left; returns how many.
    @discardableResult
    public static func stopAdopted(keep: Set<Int32> = [], sparingDetached: Bool = false) -> Int {
        let me = getpid()
        var stopped = 0
        let spared = sparingDetached ? kept.withLock { $0 } : []
        for pid in children(of: me) where !keep.contains(pid) {
            if !spared.isEmpty, let id = mark(of: pid), spared.contains(id) { continue }
            _ = kill(pid, SIGKILL)
            var status: Int32 = 0
            for _ in 0..<100 where waitpid(pid, &status, WNOHANG) == 0 { usleep(10_000) }
            stopped += 1
        }
        return stopped
    }

    /// The value of `markVariable` in the environment `pid` started with, if any.
    static func mark(of pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        let prefix = Array("\(markVariable)=".utf8)
        for entry in data.split(separator: 0, omittingEmptySubsequences: true) where entry.starts(with: prefix) {
            return String(decoding: entry.dropFirst(prefix.count), as: UTF8.self)
        }
        return nil
    }

    /// Pids whose parent is `parent` (from /proc/PID/stat).
    static func children(of parent: Int32) -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { name -> Int32? in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent ? pid : nil
        }
    }
}
