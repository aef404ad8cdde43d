import CShipgatePosix
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `shipgate __netns hold` and `shipgate __netns join PID -- ARGV…` (see `NetworkNamespace`).
/// Handled first thing in `main`, before anything else runs: entering a user namespace needs a
/// single-threaded process, and `join` replaces itself with the step at once.
enum NetworkNamespaceHelper {
    static func runIfRequested() {
        let argc = Int(CommandLine.argc)
        let argv = CommandLine.unsafeArgv
        guard argc >= 3, let first = argv[1], String(cString: first) == "__netns", let mode = argv[2] else { return }
        var what: UnsafePointer<CChar>?
        switch String(cString: mode) {
        case "hold":
            if shipgate_netns_hold(&what) == 0 { exit(0) }
            fail(
                what,
                hint:
                    "it needs root, or unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0)"
            )
        case "join":
            guard argc >= 6, let pidText = argv[3], let pid = Int32(String(cString: pidText)), let dashes = argv[4], String(cString: dashes) == "--"
            else { break }
            _ = shipgate_netns_exec(pid, argv + 5, &what)
            fail(what, hint: nil)
        default: break
        }
        FileHandle.standardError.write(Data("shipgate __netns: usage: __netns hold | __netns join PID -- ARGV…\n".utf8))
        exit(2)
    }

    private static func fail(_ what: UnsafePointer<CChar>?, hint: String?) -> Never {
        let step = what.map { String(cString: $0) } ?? "?"
        let message = "cannot give the job a network namespace of its own: \(step): \(String(cString: strerror(errno)))" + (hint.map { "; \($0)" } ?? "")
        // `hold` reports on stdout (the job reads its first line); `join` on stderr (the step's log).
        print(message)
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(126)
    }
}
