import Synchronization

/// A flag that says "stop": set once by Ctrl-C, SIGTERM or --fail-fast, read by everything
/// that runs. Runners poll it; waiters can `sleep` and wake early when it is set.
///
/// Thread-safe; cancelling twice is harmless.
public final class CancellationToken: Sendable {
    private let state = Mutex<String?>(nil)

    public init() {}

    public func cancel(reason: String) {
        state.withLock { if $0 == nil { $0 = reason } }
    }

    public var isCancelled: Bool { state.withLock { $0 != nil } }
    public var reason: String? { state.withLock { $0 } }

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
