import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import ShipgateCache

/// The remote cache's transport over AsyncHTTPClient.
///
/// Contract (besides `RemoteTransport`'s): requests go to `base/path` on the process's shared
/// client; connecting and each wait for a byte are bounded by `idleTimeout`, a whole request
/// by `deadline(bytes)` for uploads (a generous rate floor, so a large blob is not cut off
/// while it moves); a download's size is unknown before it arrives, so only the idle timeout
/// bounds it (a server that stops sending fails it).
/// Files are read in 256 KiB chunks as the connection takes them.
public struct HTTPRemoteTransport: RemoteTransport {
    public let base: URL
    public let idleTimeout: Duration
    public var location: String { base.absoluteString }

    /// `url` like `http://127.0.0.1:9090/cache`; nil unless it is an http(s) URL with a host.
    public init?(url text: String, idleTimeout: Duration = .seconds(5)) {
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", url.host?.isEmpty == false
        else { return nil }
        base = url
        self.idleTimeout = idleTimeout
    }

    /// The whole request's allowance: 60 s plus a second per 4 MiB (1 GiB: about 5 minutes).
    func deadline(bytes: Int64) -> NIODeadline {
        .now() + .seconds(max(60, Int64(idleTimeout.components.seconds) * 12) + bytes / (4 << 20))
    }

    public func send(_ method: RemoteMethod, _ path: String, body: RemoteBody, receive: ((UnsafeRawBufferPointer) throws -> Void)?) async throws -> Int {
        var request = HTTPClientRequest(url: base.absoluteString + "/" + path)
        request.method = HTTPMethod(rawValue: method.rawValue)
        var size: Int64 = 0
        switch body {
        case .empty: break
        case .bytes(let bytes):
            request.body = .bytes(bytes)
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            size = Int64(bytes.count)
        case .file(let file, let length, let digest):
            request.body = .stream(FileChunks(path: file, length: length, digest: digest), length: .known(length))
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            size = length
        }
        let client = HTTPClients.client(for: base, idleTimeout: idleTimeout)
        let response: HTTPClientResponse
        let limit = method == .get && receive != nil ? NIODeadline.now() + .hours(24) : deadline(bytes: size)
        do { response = try await client.execute(request, deadline: limit) } catch let error as FileChunks.ReadFailure {
            throw RemoteTransportError("could not send \(path): \(error.reason)")
        } catch {
            throw RemoteTransportError(HTTPClients.describe(error), cancelled: error is CancellationError || (error as? HTTPClientError) == .cancelled)
        }
        let status = Int(response.status.code)
        do {
            if (200..<300).contains(status), let receive {
                for try await buffer in response.body {
                    do { try buffer.withUnsafeReadableBytes { try receive($0) } } catch { throw ReceiveFailure(underlying: error) }
                }
            } else if method != .head {
                _ = try await response.body.collect(upTo: 1 << 20)
            }
        } catch let error as HTTPClientError {
            throw RemoteTransportError(HTTPClients.describe(error), cancelled: error == .cancelled)
        } catch is CancellationError {
            throw RemoteTransportError("cancelled", cancelled: true)
        } catch let error as NIOTooManyBytesError {
            throw RemoteTransportError("answered with a body too large for an error: \(error)")
        } catch let failure as ReceiveFailure {
            throw failure.underlying  // the caller's own problem (a full disk), as it said it
        } catch {
            throw RemoteTransportError(HTTPClients.describe(error))  // the connection broke mid-body
        }
        return status
    }

    /// What the caller's `receive` threw, told apart from the connection's errors.
    private struct ReceiveFailure: Error { var underlying: any Error }
}

/// A file as a stream of 256 KiB buffers, its SHA-256 checked before the last one is handed
/// over: a file that changed (or a corrupt blob) fails the request instead of being stored.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    struct ReadFailure: Error { var reason: String }

    let path: String
    let length: Int64
    let digest: String

    func makeAsyncIterator() -> Iterator { Iterator(path: path, length: length, digest: digest) }

    final class Iterator: AsyncIteratorProtocol {
        private var fd: Int32 = -1
        private let path: String
        private let length: Int64
        private let digest: String
        private var sent: Int64 = 0
        private var hasher = SHA256()
        private var opened = false

        init(path: String, length: Int64, digest: String) {
            self.path = path
            self.length = length
            self.digest = digest
        }

        func next() async throws -> ByteBuffer? {
            if !opened {
                opened = true
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw ReadFailure(reason: "cannot read \(path): \(String(cString: strerror(errno)))") }
            }
            guard fd >= 0, sent < length else { return nil }
            try Task.checkCancellation()
            let want = Int(Swift.min(Int64(256 << 10), length - sent))
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                var got = 0
                while got < want {
                    let r = read(fd, raw.baseAddress! + got, want - got)
                    if r < 0, errno == EINTR { continue }
                    if r <= 0 { break }
                    got += r
                }
                return got
            }
            guard n == want else { throw ReadFailure(reason: "\(path) is shorter than \(length) bytes (it changed while it was sent)") }
            buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            sent += Int64(n)
            if sent == length {
                guard Digest.hex(hasher.finalize()) == digest else { throw ReadFailure(reason: "\(path) does not match its digest; not sent") }
            }
            return buffer
        }

        deinit { if fd >= 0 { close(fd) } }
    }
}

extension RemoteCache {
    /// A remote cache at `url` over HTTP; nil unless `url` is an http(s) URL.
    public static func http(_ url: String, idleTimeout: Duration = .seconds(5)) -> RemoteCache? {
        HTTPRemoteTransport(url: url, idleTimeout: idleTimeout).map { RemoteCache(transport: $0) }
    }
}
