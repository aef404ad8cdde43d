import Dispatch
import Foundation
import ShipgateEngine

/// Turns SIGINT and SIGTERM into cancellation of the run: the first one cancels (running
/// steps get SIGTERM, then SIGKILL after the grace period); a second one exits at once with
/// 130 after killing every process group still alive.
final class SignalTrap: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "shipgate.signals")
    private var count = 0

    init(token: CancellationToken, onForce: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [unowned self] in
                self.count += 1
                if self.count == 1 {
                    token.cancel(reason: sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)")
                } else {
                    onForce()
                    exit(130)
                }
            }
            source.resume()
            sources.append(source)
        }
    }
}
