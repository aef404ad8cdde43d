import ShipgateModel

/// Starts one step's process and reports its output lines and outcome.
///
/// The seam between the engine and the operating system: the engine never spawns a
/// process itself. `HostProcessRunner` is the real one; tests may supply others.
public protocol ProcessRunner: Sendable {
    /// Where the runner registers the process group of every step it starts, so that the job
    /// can kill what its steps left behind; nil for runners whose steps are not host processes.
    var groups: ProcessGroups? { get }

    /// Runs `request` to completion. `onLine` is called for every output line (stdout and
    /// stderr merged, in arrival order), never concurrently with itself. Must return only after
    /// the process has exited; never throws — failures to start are an outcome.
    func run(_ request: ProcessRequest, cancellation: CancellationToken, onLine: @escaping @Sendable (OutputLine) -> Void) async -> ProcessOutcome
}

public struct ProcessRequest: Sendable {
    public var argv: [String]
    /// The complete environment of the child; nothing is inherited implicitly.
    public var environment: ProcessEnvironment
    public var workingDirectory: String
    /// The process group is sent SIGTERM once this passes, then SIGKILL after `killGrace`.
    public var timeout: TimeSpan
    public var killGrace: TimeSpan
    /// The group is terminated as on a timeout when the process prints nothing (not a byte) for
    /// this long (counted from its start); nil: no limit.
    public var idleTimeout: TimeSpan?

    public init(
        argv: [String], environment: ProcessEnvironment, workingDirectory: String, timeout: TimeSpan, killGrace: TimeSpan,
        idleTimeout: TimeSpan? = nil
    ) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.killGrace = killGrace
        self.idleTimeout = idleTimeout
    }
}

/// One line of a step's output (without its newline). Lines longer than the splitter's limit
/// arrive as several pieces, each marked `continued` except the last.
public struct OutputLine: Sendable {
    public var text: String
    public var continued: Bool
    public init(text: String, continued: Bool = false) {
        self.text = text
        self.continued = continued
    }
}

public struct ProcessOutcome: Sendable, Equatable {
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// The timeout passed; the group was terminated.
        case timedOut
        /// No output for `idleTimeout`; the group was terminated.
        case idleTimedOut
        /// Cancelled (Ctrl-C, SIGTERM to shipgate, --fail-fast); the group was terminated.
        case cancelled
        case failedToStart(String)
    }

    public var termination: Termination
    /// The step's process id, which is also its process group id.
    public var pid: Int32?

    public init(termination: Termination, pid: Int32?) {
        self.termination = termination
        self.pid = pid
    }

    public var succeeded: Bool { termination == .exited(0) }

    /// The exit code users see: the code, 128+signal for signals, nil when it never ran to an end.
    public var exitCode: Int32? {
        switch termination {
        case .exited(let c): c
        case .signaled(let s): 128 + s
        case .timedOut, .idleTimedOut, .cancelled, .failedToStart: nil
        }
    }
}

/// A child's environment: a shared base (usually shipgate's own, encoded once per run) plus
/// the variables of one step, which win over the base.
public struct ProcessEnvironment: Sendable {
    /// `NAME=value\0` entries, encoded once and shared by every step of a run.
    public final class Base: Sendable {
        let names: [String]
        let entries: [[UInt8]]

        public init(_ variables: [String: String]) {
            let sorted = variables.sorted { $0.key < $1.key }
            names = sorted.map(\.key)
            entries = sorted.map { Array("\($0.key)=\($0.value)\0".utf8) }
        }
    }

    public var base: Base
    public var overrides: [String: String]

    public init(base: Base, overrides: [String: String] = [:]) {
        self.base = base
        self.overrides = overrides
    }

    /// The value the child sees for `name`.
    public func value(of name: String) -> String? {
        if let v = overrides[name] { return v }
        guard let i = base.names.firstIndex(of: name) else { return nil }
        let entry = base.entries[i]
        return String(decoding: entry[(name.utf8.count + 1)..<(entry.count - 1)], as: UTF8.self)
    }

    /// NUL-terminated `NAME=value` entries, base first (minus overridden names).
    public var entries: [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(base.entries.count + overrides.count)
        for (name, entry) in zip(base.names, base.entries) where overrides[name] == nil { out.append(entry) }
        for (k, v) in overrides { out.append(Array("\(k)=\(v)\0".utf8)) }
        return out
    }
}

extension ProcessRunner {
    public var groups: ProcessGroups? { nil }
}
