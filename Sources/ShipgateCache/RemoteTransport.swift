/// How the remote cache reaches its server. `ShipgateHTTP` implements it over AsyncHTTPClient;
/// this module never opens a socket, so it keeps no dependency on NIO.
///
/// Contract: `send` returns the HTTP status of whatever answer came, and hands a 2xx answer's
/// body to `receive` chunk by chunk, in order, without holding it whole. It throws
/// `RemoteTransportError` when no answer came (refused, unknown host, timed out, closed,
/// cancelled) and rethrows whatever `receive` throws. A `.file` body is read as it is sent.
public protocol RemoteTransport: Sendable {
    /// Where the requests go, for messages (`http://127.0.0.1:9090/cache`).
    var location: String { get }

    func send(_ method: RemoteMethod, _ path: String, body: RemoteBody, receive: ((UnsafeRawBufferPointer) throws -> Void)?) async throws -> Int
}

public enum RemoteMethod: String, Sendable {
    case get = "GET"
    case head = "HEAD"
    case put = "PUT"
}

public enum RemoteBody: Sendable {
    case empty
    case bytes([UInt8])
    /// The file's bytes, streamed; `digest` (SHA-256) is checked as it is read, and a file that no
    /// longer matches fails the request before its last byte, so a server never stores it whole.
    case file(path: String, length: Int64, digest: String)
}

/// No HTTP answer came; `reason` says why in words ("timed out (…)", "unreachable: …").
public struct RemoteTransportError: Error, Sendable {
    public var reason: String
    public var cancelled: Bool
    public init(_ reason: String, cancelled: Bool = false) {
        self.reason = reason
        self.cancelled = cancelled
    }
}
