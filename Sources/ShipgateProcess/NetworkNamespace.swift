import CShipgatePosix
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A network namespace of one job's own (`isolation: { network: private }`): its steps see a
/// loopback interface of their own and nothing else, so two jobs can bind the same port.
///
/// How: a holder process (`shipgate __netns hold`) moves into a new network namespace (into a
/// new user namespace too when it may not do that directly, mapping the user's own uid), brings
/// `lo` up, says `ready` and waits for its stdin to close. Every step is started through
/// `shipgate __netns join PID -- ARGV…`, which enters the holder's namespaces and execs the
/// step, so pid, process group and signals are the step's own. `stop()` closes the holder's
/// stdin (as does shipgate dying); the namespace ends with its last process.
public final class NetworkNamespace: Sendable {
    public let holder: Int32
    private let helper: String
    private let stdin: Int32

    private init(holder: Int32, helper: String, stdin: Int32) {
        self.holder = holder
        self.helper = helper
        self.stdin = stdin
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts the holder with `helper` (the shipgate executable); waits until it is ready.
    public static func start(helper: String) throws -> NetworkNamespace {
        #if os(Linux)
            var input: [Int32] = [-1, -1]
            var output: [Int32] = [-1, -1]
            guard shipgate_pipe_cloexec(&input) == 0 else { throw Failure(description: "cannot create a pipe: \(String(cString: strerror(errno)))") }
            guard shipgate_pipe_cloexec(&output) == 0 else {
                close(input[0])
                close(input[1])
                throw Failure(description: "cannot create a pipe: \(String(cString: strerror(errno)))")
            }
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawnattr_init(&attributes)
            defer {
                posix_spawn_file_actions_destroy(&actions)
                posix_spawnattr_destroy(&attributes)
            }
            posix_spawn_file_actions_adddup2(&actions, input[0], 0)
            posix_spawn_file_actions_adddup2(&actions, output[1], 1)
            posix_spawn_file_actions_adddup2(&actions, output[1], 2)
            // Its own process group: a Ctrl-C to the terminal's group does not end it early.
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attributes, 0)
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(helper), strdup("__netns"), strdup("hold"), nil]
            defer { for p in argv { free(p) } }
            let envp: [UnsafeMutablePointer<CChar>?] = [nil]
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, helper, &actions, &attributes, argv, envp)
            close(input[0])
            close(output[1])
            guard spawned == 0 else {
                close(input[1])
                close(output[0])
                throw Failure(description: "cannot start \(helper) __netns: \(String(cString: strerror(spawned)))")
            }
            // Its first line: `ready`, or why it could not make the namespace.
            var text = ""
            var byte: UInt8 = 0
            while read(output[0], &byte, 1) == 1, byte != UInt8(ascii: "\n") { text.append(Character(UnicodeScalar(byte))) }
            close(output[0])
            guard text == "ready" else {
                close(input[1])
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                throw Failure(description: text.isEmpty ? "the network namespace helper exited without a word" : text)
            }
            return NetworkNamespace(holder: pid, helper: helper, stdin: input[1])
        #else
            throw Failure(description: "`isolation: { network: private }` needs Linux network namespaces")
        #endif
    }

    /// `argv` started inside the namespace.
    public func wrap(_ argv: [String]) -> [String] { [helper, "__netns", "join", String(holder), "--"] + argv }

    /// Ends the holder (the namespace goes with the job's last process).
    public func stop() {
        close(stdin)
        var status: Int32 = 0
        while waitpid(holder, &status, 0) < 0 && errno == EINTR {}
    }
}

/// The namespaces of the jobs running now, by job id.
public final class NetworkNamespaces: Sendable {
    private let byJob = Mutex<[String: NetworkNamespace]>([:])

    public init() {}

    public func set(_ namespace: NetworkNamespace?, for job: String) { byJob.withLock { $0[job] = namespace } }

    /// Stops and forgets the job's namespace, if it has one.
    public func stop(_ job: String) { byJob.withLock { $0.removeValue(forKey: job) }?.stop() }

    /// `argv`, started in the job's namespace if it has one.
    public func wrap(_ argv: [String], job: String) -> [String] { byJob.withLock { $0[job] }?.wrap(argv) ?? argv }
}
