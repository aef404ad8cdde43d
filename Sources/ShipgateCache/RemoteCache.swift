import Foundation
import Synchronization

/// A Bazel-style HTTP cache: `GET`/`PUT`/`HEAD` on `<base>/ac/<key>` (job entries) and
/// `<base>/cas/<sha256>` (blobs). Works with bazel-remote (`--disable_http_ac_validation`,
/// since our entries are JSON, not protobuf), nginx with WebDAV `PUT`, and similar servers.
///
/// Contract: never throws and never fails a run. A failure comes back as `.unavailable(reason)`
/// for the caller to warn about, and after the first connection-level failure the remote is
/// skipped for the rest of the run. Blobs stream between the server and files of the local
/// cache (memory does not grow with their size), a blob the server already has is never sent
/// again (`HEAD` first), downloaded blobs are verified before they are kept, and at most
/// `parallelTransfers` blobs move at once. `cancel` stops every transfer in flight.
public final class RemoteCache: Sendable {
    public enum Outcome<T: Sendable>: Sendable {
        case hit(T)
        case miss
        case unavailable(String)
    }

    /// What a remote path holds: job entries or blobs.
    public enum Area: String, Sendable {
        case entries = "ac"
        case blobs = "cas"
    }

    /// How fetching one blob ended.
    public enum BlobFetch: Equatable, Sendable {
        case stored
        case miss
        /// The server sent bytes that do not match the digest; nothing was kept.
        case wrongBytes
        /// The local cache could not keep it (disk full, permissions).
        case local(String)
        case unavailable(String)
    }

    public let transport: any RemoteTransport
    public let parallelTransfers: Int
    /// Entries (JSON documents) larger than this are refused rather than held in memory.
    public static let documentLimit = 16 << 20

    private let disabledReason = Mutex<String?>(nil)
    private let inFlight = Mutex<[UInt64: @Sendable () -> Void]>([:])
    private let nextTransfer = Atomic<UInt64>(0)

    public init(transport: any RemoteTransport, parallelTransfers: Int = 4) {
        self.transport = transport
        self.parallelTransfers = max(1, parallelTransfers)
    }

    public var location: String { transport.location }
    public var disabled: String? { disabledReason.withLock { $0 } }

    /// Stops every transfer in flight and skips the remote from now on (Ctrl-C).
    public func cancel(reason: String) {
        disabledReason.withLock { if $0 == nil { $0 = "remote cache \(location): \(reason)" } }
        let cancels = inFlight.withLock { Array($0.values) }
        for cancel in cancels { cancel() }
    }

    // MARK: - Documents (entries)

    /// A small document (an entry), whole.
    public func document(_ area: Area, _ name: String) async -> Outcome<[UInt8]> {
        var bytes: [UInt8] = []
        let limit = Self.documentLimit
        let sent = await send(.get, area, name, body: .empty) { chunk in
            guard bytes.count + chunk.count <= limit else { throw DocumentTooLarge() }
            bytes.append(contentsOf: chunk)
        }
        switch sent {
        case .answered(200): return .hit(bytes)
        case .answered(404): return .miss
        case .answered(let status): return .unavailable("GET \(area.rawValue)/\(name.prefix(12))… answered HTTP \(status)")
        case .receiveFailed: return .unavailable("GET \(area.rawValue)/\(name.prefix(12))… is larger than \(limit >> 20) MiB; not a shipgate entry")
        case .failed(let reason): return .unavailable(reason)
        }
    }

    /// Uploads a small document; `.hit(())` on success.
    public func putDocument(_ area: Area, _ name: String, _ bytes: [UInt8]) async -> Outcome<Void> {
        switch await send(.put, area, name, body: .bytes(bytes), receive: nil) {
        case .answered(let status) where (200..<300).contains(status): return .hit(())
        case .answered(let status): return .unavailable("PUT \(area.rawValue)/\(name.prefix(12))… answered HTTP \(status)")
        case .receiveFailed: return .unavailable("PUT \(area.rawValue)/\(name.prefix(12))… failed")
        case .failed(let reason): return .unavailable(reason)
        }
    }

    /// Whether the remote has `name` (`HEAD`).
    public func has(_ area: Area, _ name: String) async -> Outcome<Bool> {
        switch await send(.head, area, name, body: .empty, receive: nil) {
        case .answered(200): return .hit(true)
        case .answered(404): return .hit(false)
        case .answered(let status): return .unavailable("HEAD \(area.rawValue)/\(name.prefix(12))… answered HTTP \(status)")
        case .receiveFailed: return .hit(false)
        case .failed(let reason): return .unavailable(reason)
        }
    }

    // MARK: - Blobs

    /// Fetches blob `digest` into `local`, streamed to a temp file and verified before it is kept.
    public func fetchBlob(_ digest: String, into local: LocalCache) async -> BlobFetch {
        let receiver: BlobReceiver
        do { receiver = try local.receiveBlob(digest) } catch { return .local("\(error)") }
        var failure: BlobReceiver.Failure?
        let sent = await send(.get, .blobs, digest, body: .empty) { chunk in
            do throws(BlobReceiver.Failure) { try receiver.append(chunk) } catch {
                failure = error
                throw error
            }
        }
        switch sent {
        case .answered(200):
            do { try receiver.finish() } catch .wrongBytes { return .wrongBytes } catch { return .local("\(error)") }
            return .stored
        case .answered(let status):
            receiver.abandon()
            return status == 404 ? .miss : .unavailable("GET cas/\(digest.prefix(12))… answered HTTP \(status)")
        case .receiveFailed:
            receiver.abandon()
            return .local(failure.map { "\($0)" } ?? "cannot keep blob \(digest.prefix(12))…")
        case .failed(let reason):
            receiver.abandon()
            return .unavailable(reason)
        }
    }

    /// Sends blob `digest` of `local` unless the remote has it. `.hit(true)` when it was sent,
    /// `.hit(false)` when the remote had it, `.miss` when `local` does not have it.
    public func sendBlob(_ digest: String, from local: LocalCache) async -> Outcome<Bool> {
        guard let size = local.blobSize(digest) else { return .miss }
        switch await has(.blobs, digest) {
        case .hit(true): return .hit(false)
        case .unavailable(let reason): return .unavailable(reason)
        case .hit(false), .miss: break
        }
        switch await send(.put, .blobs, digest, body: .file(path: local.blobPath(digest), length: size, digest: digest), receive: nil) {
        case .answered(let status) where (200..<300).contains(status): return .hit(true)
        case .answered(let status): return .unavailable("PUT cas/\(digest.prefix(12))… answered HTTP \(status)")
        case .receiveFailed: return .unavailable("PUT cas/\(digest.prefix(12))… failed")
        case .failed(let reason): return .unavailable(reason)
        }
    }

    /// Sends the blobs the remote lacks, `parallelTransfers` at a time. Returns how many were
    /// sent, and the first problem (after which the rest are not tried).
    public func sendBlobs(_ digests: [String], from local: LocalCache) async -> (sent: Int, problem: String?) {
        let results = await forEach(digests) { await self.sendBlob($0, from: local) }
        var sent = 0
        for result in results {
            switch result {
            case .hit(true): sent += 1
            case .unavailable(let reason): return (sent, reason)
            default: break
            }
        }
        return (sent, nil)
    }

    /// Fetches the blobs `local` lacks, `parallelTransfers` at a time; the first failure, or nil.
    public func fetchBlobs(_ digests: [String], into local: LocalCache) async -> (digest: String, BlobFetch)? {
        let missing = digests.filter { !local.hasBlob($0) }
        let results = await forEach(missing) { await self.fetchBlob($0, into: local) }
        return zip(missing, results).first { $0.1 != .stored }
    }

    /// `body` over `items` with at most `parallelTransfers` running; results in `items`' order.
    /// Once one answers `.unavailable` the remote is disabled, so the rest end at once.
    private func forEach<T: Sendable>(_ items: [String], _ body: @escaping @Sendable (String) async -> T) async -> [T] {
        await withTaskGroup(of: (Int, T).self) { group in
            var results: [T?] = Array(repeating: nil, count: items.count)
            var next = 0
            for _ in 0..<min(parallelTransfers, items.count) {
                let i = next
                group.addTask { (i, await body(items[i])) }
                next += 1
            }
            while let (i, value) = await group.next() {
                results[i] = value
                if next < items.count {
                    let j = next
                    group.addTask { (j, await body(items[j])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }

    // MARK: - Plumbing

    private enum Sent {
        case answered(Int)
        /// `receive` threw (a local problem, or a document too large).
        case receiveFailed
        case failed(String)
    }

    private struct DocumentTooLarge: Error {}

    /// One request, run as its own task so `cancel` can stop it; the caller's cancellation is
    /// passed on too. A connection-level failure disables the remote for the run.
    private func send(
        _ method: RemoteMethod, _ area: Area, _ name: String, body: RemoteBody, receive: ((UnsafeRawBufferPointer) throws -> Void)?
    ) async -> Sent {
        if let reason = disabled { return .failed(reason) }
        let transport = self.transport
        let path = "\(area.rawValue)/\(name)"
        let receiver = UncheckedBox(receive)
        let task = Task<Sent, Never> {
            do {
                return .answered(try await transport.send(method, path, body: body, receive: receiver.value))
            } catch let error as RemoteTransportError {
                return .failed("remote cache \(transport.location) \(error.reason)")
            } catch {
                return .receiveFailed
            }
        }
        let id = nextTransfer.add(1, ordering: .relaxed).newValue
        inFlight.withLock { $0[id] = { task.cancel() } }
        // A `cancel` between the check above and the registration did not see this task.
        if disabled != nil { task.cancel() }
        let sent = await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        inFlight.withLock { _ = $0.removeValue(forKey: id) }
        if case .failed(let reason) = sent { disabledReason.withLock { if $0 == nil { $0 = reason } } }
        if let reason = disabled, case .failed = sent { return .failed(reason) }
        return sent
    }
}

/// Carries the caller's receive closure into the request task. Safe: the caller awaits that task
/// before it returns, so the closure is never used concurrently with its owner.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
