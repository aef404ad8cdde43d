import CShipgatePosix
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The environment and arguments shipgate was started with, moved out of reach of the
/// processes it starts.
///
/// Threat: any step (a branch's lint job) reads `/proc/$PPID/environ` or `/proc/$PPID/cmdline`
/// of shipgate and finds environment secrets, the state store's credentials or the secrets
/// file's path, whatever shipgate removed from the step's own environment.
///
/// Contract: `seal()` runs first in `main`, before any thread or child process exists. It
/// copies the environment and arguments into private memory, then overwrites with zeros the
/// bytes the kernel shows as `/proc/PID/environ` (every variable) and, in `/proc/PID/cmdline`,
/// the values of `sensitiveOptions`. Every variable but `credentialNames` goes back into the C
/// environment as heap copies (so `getenv` and `ProcessInfo` keep working, invisible in
/// `/proc`), and the process is marked non-dumpable. Afterwards `values` is the launch
/// environment (credentials included) and `withhold` removes names from the C environment once
/// they are known to be secret, so no child can inherit them.
///
/// Not covered: a step running as root (or with CAP_SYS_PTRACE) can still read shipgate's
/// memory (`/proc/PID/mem`); run steps as another user for that (see docs/deploy-gates.md).
/// The process that started shipgate keeps its own environment: `exec shipgate …` in CI.
public enum LaunchEnvironment {
    /// The state store's credentials: never in the C environment, never given to a child.
    public static let credentialNames: Set<String> = ["SHIPGATE_STATE_URL", "PGPASSWORD", "PGPASSFILE"]
    /// Options whose values are cleared from `/proc/PID/cmdline` (URLs may hold a password).
    public static let sensitiveOptions: Set<String> = ["--secrets-file", "--state", "--remote-cache"]

    /// The environment shipgate was started with.
    public static var values: [String: String] { sealed.environment }
    /// The arguments shipgate was started with (the executable first).
    public static var arguments: [String] { sealed.arguments }
    /// Whether the launch memory could be cleared (Linux); elsewhere the values are only copied.
    public static var isScrubbed: Bool { sealed.scrubbed }

    /// Takes the snapshot and clears the launch memory; idempotent.
    public static func seal() { _ = sealed }

    /// Removes `names` from the C environment (a secret's name, once the pipeline says so).
    public static func withhold(_ names: some Sequence<String>) {
        seal()
        for name in names { unsetenv(name) }
    }

    private struct Snapshot: Sendable {
        var environment: [String: String]
        var arguments: [String]
        var scrubbed: Bool
    }

    private static let sealed: Snapshot = take()

    private static func take() -> Snapshot {
        let arguments = CommandLine.arguments
        #if os(Linux)
            var environment: [String: String] = [:]
            var entries: [UnsafeMutablePointer<CChar>] = []
            let start: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
            if var cursor = start {
                while let entry = cursor.pointee {
                    entries.append(entry)
                    let text = String(cString: entry)
                    if let eq = text.firstIndex(of: "=") {
                        environment[String(text[..<eq])] = String(text[text.index(after: eq)...])
                    }
                    cursor += 1
                }
            }
            // The strings the kernel shows as /proc/PID/environ: zero them, then rebuild the C
            // environment from the copies.
            for entry in entries { memset(entry, 0, strlen(entry)) }
            clearenv()
            for (name, value) in environment where !credentialNames.contains(name) { setenv(name, value, 1) }
            scrubArguments()
            _ = shipgate_set_nondumpable()
            return Snapshot(environment: environment, arguments: arguments, scrubbed: true)
        #else
            let environment = ProcessInfo.processInfo.environment
            for name in credentialNames { unsetenv(name) }
            return Snapshot(environment: environment, arguments: arguments, scrubbed: false)
        #endif
    }

    /// Zeros the values of `sensitiveOptions` in the argument memory (`--opt VALUE`, `--opt=VALUE`).
    private static func scrubArguments() {
        let argc = Int(CommandLine.argc)
        let argv = CommandLine.unsafeArgv
        var index = 1
        while index < argc {
            guard let arg = argv[index] else { break }
            let text = String(cString: arg)
            if sensitiveOptions.contains(text), index + 1 < argc, let value = argv[index + 1] {
                memset(value, 0, strlen(value))
                index += 2
                continue
            }
            if let eq = text.firstIndex(of: "="), sensitiveOptions.contains(String(text[..<eq])) {
                let offset = text.utf8.distance(from: text.utf8.startIndex, to: eq) + 1
                memset(arg + offset, 0, strlen(arg + offset))
            }
            index += 1
        }
    }
}
