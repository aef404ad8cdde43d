import Foundation
import ShipgateCache
import ShipgateProcess

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `resource-group: NAME` across runs: an exclusive `flock` on `LOCKS/resource-NAME.lock` in
/// the state directory, held while the job runs and released by the kernel if shipgate dies.
/// Within one run the scheduler keeps a group's jobs apart before they get here.
final class ResourceGroupLock: Sendable {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Takes the group's lock, waiting as long as another run holds it (`onWait` once, then
    /// a new try `every` interval); nil when the run is cancelled first or the lock file cannot be
    /// opened (then the job goes ahead, with no cross-run exclusion: a broken lock directory
    /// never stops a pipeline).
    static func acquire(
        _ group: String, in directory: String, every interval: Duration, cancellation: CancellationToken, onWait: () -> Void
    ) async -> ResourceGroupLock? {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(directory + "/" + fileName(group), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return ResourceGroupLock(fd: -1) }
        var waited = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { return ResourceGroupLock(fd: fd) }
            if !waited {
                onWait()
                waited = true
            }
            if await !cancellation.sleep(interval) {
                close(fd)
                return nil
            }
        }
        return ResourceGroupLock(fd: fd)
    }

    func release() { if fd >= 0 { close(fd) } }

    /// `resource-NAME.lock`, any character outside `[A-Za-z0-9._-]` replaced, plus a digest of
    /// the name so two names never share a file.
    static func fileName(_ group: String) -> String {
        let safe = String(group.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" }.prefix(64))
        return "resource-\(safe)-\(Digest.sha256(group).prefix(12)).lock"
    }
}
