import Foundation
import ShipgateEngine
import ShipgateProcess
import Synchronization

/// A `ProcessRunner` with no processes, for the scheduler's semantics (as ninja's build tests
/// use a fake command runner): deterministic, no clock, no machine speed.
///
/// A step's script (the last argument of its argv) is a list of `;`-separated commands the fake
/// acts out in order:
/// - `echo TEXT`: prints the line `TEXT`;
/// - `exit N`: ends with code N (the script ends with 0 otherwise);
/// - `fail-first N`: ends with code 1 the first N times this script runs;
/// - `hold NAME`: waits until the test calls `release(NAME)`, or until the step is cancelled
///   (then the outcome is `.cancelled`).
///
/// It records the scripts in the order they started and ended and the most that ran at once.
final class FakeRunner: ProcessRunner, Sendable {
    private struct State {
        var started: [String] = []
        var ended: [String] = []
        var running = 0
        var mostAtOnce = 0
        var runs: [String: Int] = [:]
        var released: Set<String> = []
        /// Steps waiting in `hold`, by hold name.
        var holds: [(name: String, token: CancellationToken, resume: CheckedContinuation<Bool, Never>)] = []
        /// Tests waiting for `started.count` to reach a number.
        var startWaiters: [(count: Int, resume: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    var started: [String] { state.withLock { $0.started } }
    var ended: [String] { state.withLock { $0.ended } }
    var mostAtOnce: Int { state.withLock { $0.mostAtOnce } }
    var running: Int { state.withLock { $0.running } }

    /// Lets every step that holds (or will hold) on `name` go on.
    func release(_ name: String) {
        let waiting = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.released.insert(name)
            let (go, stay) = (s.holds.filter { $0.name == name }, s.holds.filter { $0.name != name })
            s.holds = stay
            return go.map(\.resume)
        }
        for w in waiting { w.resume(returning: true) }
    }

    /// Returns once `count` steps have started (they may hold).
    func waitForStarts(_ count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.started.count >= count { return true }
                s.startWaiters.append((count, c))
                return false
            }
            if now { c.resume() }
        }
    }

    func run(_ request: ProcessRequest, cancellation: CancellationToken, onLine: @escaping @Sendable (OutputLine) -> Void) async -> ProcessOutcome {
        let script = request.argv.last ?? ""
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.started.append(script)
            s.runs[script, default: 0] += 1
            s.running += 1
            s.mostAtOnce = max(s.mostAtOnce, s.running)
            let due = s.startWaiters.filter { $0.count <= s.started.count }
            s.startWaiters.removeAll { $0.count <= s.started.count }
            return due.map(\.resume)
        }
        for r in ready { r.resume() }
        let termination = await act(script, cancellation: cancellation, onLine: onLine)
        state.withLock { s in
            s.running -= 1
            s.ended.append(script)
        }
        return ProcessOutcome(termination: termination, pid: nil)
    }

    private func act(_ script: String, cancellation: CancellationToken, onLine: @Sendable (OutputLine) -> Void) async -> ProcessOutcome.Termination {
        for command in script.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let words = command.split(separator: " ", maxSplits: 1).map(String.init)
            let argument = words.count > 1 ? words[1] : ""
            switch words.first ?? "" {
            case "echo": onLine(OutputLine(text: argument))
            case "exit": return .exited(Int32(argument) ?? 0)
            case "fail-first":
                if state.withLock({ $0.runs[script, default: 0] }) <= Int(argument) ?? 0 { return .exited(1) }
            case "hold":
                if await !hold(argument, cancellation: cancellation) { return .cancelled }
            default: return .failedToStart("the fake runner does not know `\(command)`")
            }
        }
        return .exited(0)
    }

    /// True when released, false when cancelled first.
    private func hold(_ name: String, cancellation: CancellationToken) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let now = state.withLock { s -> Bool? in
                if s.released.contains(name) { return true }
                if cancellation.isCancelled { return false }
                s.holds.append((name, cancellation, c))
                return nil
            }
            if let now { return c.resume(returning: now) }
            cancellation.onCancel(observer: ObjectIdentifier(self)) { [self] in
                let cancelled = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
                    let (go, stay) = (s.holds.filter { $0.token === cancellation }, s.holds.filter { $0.token !== cancellation })
                    s.holds = stay
                    return go.map(\.resume)
                }
                for w in cancelled { w.resume(returning: false) }
            }
        }
    }
}

/// Records every pause the engine asks for (retry backoff) and returns at once.
final class PauseRecorder: Sendable {
    private let list = Mutex<[Duration]>([])
    var pauses: [Duration] { list.withLock { $0 } }
    var pause: @Sendable (Duration, CancellationToken) async -> Bool {
        { [self] duration, cancellation in
            list.withLock { $0.append(duration) }
            return !cancellation.isCancelled
        }
    }
}
