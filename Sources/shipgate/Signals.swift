import Dispatch
import Foundation
import ShipgateEngine
import ShipgateProcess

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

/// What every command that runs steps sets up so no step outlives it: detached daemons are
/// adopted, every process group is known to the orphan reaper helper (which kills them if
/// shipgate is killed outright), and SIGINT/SIGTERM cancel the run. `end()` stops what steps
/// detached and tells the reaper all is well; call it once the steps are done.
final class RunSupervision: @unchecked Sendable {
    let groups: ProcessGroups
    let token = CancellationToken()
    private var trap: SignalTrap?

    /// `onForce`: also run on a second signal, before exiting 130.
    init(onForce: @escaping @Sendable () -> Void = {}) {
        DetachedProcesses.adopt()
        let groups = ProcessGroups(reaper: OrphanReaper.start(executable: SelfExecutable.path))
        self.groups = groups
        trap = SignalTrap(token: token) {
            groups.killEverything()
            onForce()
        }
    }

    func end() {
        DetachedProcesses.stopAdopted(keep: groups.reaper.map { [$0.pid] } ?? [], sparingDetached: true)
        groups.reaper?.finish()
        trap = nil
    }
}
