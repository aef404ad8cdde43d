import Synchronization

/// A flag that says "stop": set once by Ctrl-C, SIGTERM or --fail-fast, read by everything
/// that runs. Runners poll it; waiters can `sleep` and wake early when it is set.
///
/// Thread-safe; cancelling twice is harmless.
public final class CancellationToken: Sendable {
    private struct State {
        var cause: (reason: String, interrupt: Bool)?
        /// Called once on cancellation, keyed by observer so that each has at most one.
        var observers: [ObjectIdentifier: @Sendable () -> Void] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// `interrupt` says the user stopped the run (Ctrl-C, SIGTERM): the run ends `cancelled`
    /// and shipgate exits 130. `--fail-fast` cancels with `interrupt: false`: the run `failed`.
    /// The first call wins.
    public func cancel(reason: String, interrupt: Bool = true) {
        let observers = state.withLock { s -> [@Sendable () -> Void] in
            guard s.cause == nil else { return [] }
            s.cause = (reason, interrupt)
            defer { s.observers = [:] }
            return Array(s.observers.values)
        }
        for observer in observers { observer() }
    }

    public var isCancelled: Bool { state.withLock { $0.cause != nil } }
    public var isInterrupt: Bool { state.withLock { $0.cause?.interrupt ?? false } }
    public var reason: String? { state.withLock { $0.cause?.reason } }

    /// Calls `handler` once when the token is cancelled (at once, on this thread, when it already
    /// is), on the cancelling thread and outside any lock. A later call with the same `observer`
    /// replaces the earlier handler, so an observer that watches many steps of one token keeps one.
    public func onCancel(observer: ObjectIdentifier, _ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.cause != nil { return true }
            s.observers[observer] = handler
            return false
        }
        if now { handler() }
    }

    /// Forgets the handler `observer` registered (it will not be called).
    public func removeObserver(_ observer: ObjectIdentifier) {
        state.withLock { _ = $0.observers.removeValue(forKey: observer) }
    }

    /// Sleeps up to `duration`, returning early (false) when cancelled. True when the full time passed.
    public func sleep(_ duration: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: duration)
        while clock.now < deadline {
            if isCancelled { return false }
            let slice = min(deadline - clock.now, .milliseconds(20))
            try? await Task.sleep(for: slice)
        }
        return !isCancelled
    }
}
