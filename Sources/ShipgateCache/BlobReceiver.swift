import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A blob arriving in pieces (from a remote): written to a temp file of the cache while its
/// SHA-256 is computed, and published under its name only when the bytes match it.
///
/// Contract: memory stays one chunk whatever the blob's size; `finish` publishes or removes the
/// temp file, `abandon` (or deinit without `finish`) removes it; more than `limit` bytes fail.
public final class BlobReceiver {
    public enum Failure: Error, Equatable, Sendable {
        case wrongBytes
        case tooLarge(Int64)
        case io(String)
    }

    public let digest: String
    private let cache: LocalCache
    private let temp: String
    private var fd: Int32
    private var hasher = Crypto.SHA256()
    private let limit: Int64
    public private(set) var received: Int64 = 0

    init(cache: LocalCache, digest: String, temp: String, limit: Int64) throws(Failure) {
        self.cache = cache
        self.digest = digest
        self.temp = temp
        self.limit = limit
        fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io("cannot write \(temp): \(String(cString: strerror(errno)))") }
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        received += Int64(bytes.count)
        guard received <= limit else { throw .tooLarge(limit) }
        hasher.update(bufferPointer: bytes)
        var offset = 0
        while offset < bytes.count {
            let w = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if w < 0 {
                if errno == EINTR { continue }
                throw .io("cannot write \(temp): \(String(cString: strerror(errno)))")
            }
            offset += w
        }
    }

    /// Publishes the blob if its bytes match its name; `.wrongBytes` otherwise.
    public func finish() throws(Failure) {
        let ok = Digest.hex(hasher.finalize()) == digest
        let moded = fchmod(fd, 0o444) == 0
        let closed = close(fd) == 0
        fd = -1
        if !moded || !closed {
            let reason = String(cString: strerror(errno))
            abandon()
            throw .io("cannot write \(temp): \(reason)")
        }
        guard ok else {
            abandon()
            throw .wrongBytes
        }
        do { try cache.publishBlob(temp, digest: digest) } catch { throw .io("\(error)") }
    }

    public func abandon() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(temp)
    }

    deinit { if fd >= 0 { abandon() } }
}

extension LocalCache {
    /// A receiver for blob `digest`; nil when the cache cannot create its temp file.
    public func receiveBlob(_ digest: String, limit: Int64 = .max) throws(BlobReceiver.Failure) -> BlobReceiver {
        try BlobReceiver(cache: self, digest: digest, temp: tempPath(), limit: limit)
    }

    /// The size of blob `digest` in bytes; nil when it is not here.
    public func blobSize(_ digest: String) -> Int64? {
        var st = stat()
        return stat(blobPath(digest), &st) == 0 ? Int64(st.st_size) : nil
    }
}
