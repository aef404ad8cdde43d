import Synchronization

/// A flag that says "stop": set once by Ctrl-C, SIGTERM or --fail-fast, read by everything
/// that runs. Runners poll it; waiters can `sleep` and wake early when it is set.
///
/// Thread-safe; cancelling twice is harmless.
public final class CancellationToken: Sendable {
    private let state = Mutex<(reason: String, interrupt: Bool)?>(nil)

    public init() {}

    /// `interrupt` says the user stopped the run (Ctrl-C, SIGTERM): the run ends `cancelled`
    /// and shipgate exits 130. `--fail-fast` cancels with `interrupt: false`: the run `failed`.
    /// The first call wins.
    public func cancel(reason: String, interrupt: Bool = true) {
        state.withLock { if $0 == nil { $0 = (reason, interrupt) } }
    }

    public var isCancelled: Bool { state.withLock { $0 != nil } }
    public var isInterrupt: Bool { state.withLock { $0?.interrupt ?? false } }
    public var reason: String? { state.withLock { $0?.reason } }

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
