import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Process groups started by steps, so that leftovers can be killed when their job ends
/// and everything can be killed when shipgate is interrupted. Thread-safe.
public final class ProcessGroups: Sendable {
    private let live = Mutex<Set<Int32>>([])
    /// Told of every group, to kill them if shipgate dies (see `OrphanReaper`).
    public let reaper: OrphanReaper?

    public init(reaper: OrphanReaper? = nil) { self.reaper = reaper }

    func insert(_ pgid: Int32) {
        if live.withLock({ $0.insert(pgid).inserted }) { reaper?.started(pgid) }
    }

    /// SIGKILLs the given groups (background processes a job's steps left running) and forgets them.
    /// A group that no longer exists is ignored.
    public func kill(_ pgids: [Int32]) {
        live.withLock { set in
            for pgid in pgids where set.remove(pgid) != nil {
                _ = Posix.kill(-pgid, SIGKILL)
                reaper?.ended(pgid)
            }
        }
    }

    public var count: Int { live.withLock { $0.count } }

    /// Forgets a group without killing it (a `detach` step's): neither the end of its job nor
    /// the orphan reaper touch it.
    public func release(_ pgid: Int32) {
        live.withLock { set in
            if set.remove(pgid) != nil { reaper?.ended(pgid) }
        }
    }

    /// Whether no live process is left in group `pgid`, whose leader was already reaped.
    /// Members that exited after their parent (the step's shell) are shipgate's children when
    /// it is their subreaper (`DetachedProcesses.adopt`): they are reaped here, as zombies still
    /// count as members.
    static func isEmpty(_ pgid: Int32) -> Bool {
        var status: Int32 = 0
        while waitpid(-pgid, &status, WNOHANG) > 0 {}
        return Posix.kill(-pgid, 0) != 0 && errno == ESRCH
    }
}

extension ProcessGroups {
    /// SIGKILLs every group still registered. For a forced exit (second Ctrl-C).
    public func killEverything() {
        live.withLock { set in
            for pgid in set {
                _ = Posix.kill(-pgid, SIGKILL)
                reaper?.ended(pgid)
            }
            set.removeAll()
        }
    }
}
