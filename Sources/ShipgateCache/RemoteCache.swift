import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A Bazel-style HTTP cache: `GET`/`PUT`/`HEAD` on `<base>/ac/<sha256>` (job entries) and
/// `<base>/cas/<sha256>` (blobs). Works with bazel-remote (`--disable_http_ac_validation`,
/// since our entries are JSON, not protobuf), nginx with WebDAV `PUT`, and similar servers.
///
/// Contract: never throws and never fails a run. Every call has a short timeout; a failure
/// is returned as `.unavailable(reason)` for the caller to warn about, and after the first
/// connection-level failure the remote is skipped for the rest of the run. Callers verify
/// what they download (blobs by digest) before using it.
public final class RemoteCache: @unchecked Sendable {
    public enum Outcome<T: Sendable>: Sendable {
        case hit(T)
        case miss
        case unavailable(String)
    }

    public let base: URL
    private let session: URLSession
    private let lock = NSLockish()
    private var disabledReason: String?

    /// `url` like `http://127.0.0.1:9090/cache`; `timeout` bounds each request.
    public init?(url: String, timeout: TimeInterval = 5) {
        guard let base = URL(string: url.hasSuffix("/") ? String(url.dropLast()) : url), let scheme = base.scheme,
            scheme == "http" || scheme == "https", base.host != nil
        else { return nil }
        self.base = base
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = max(timeout * 12, 60)
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: config)
    }

    public var disabled: String? { lock.withLock { disabledReason } }

    public func get(_ kind: String, _ digest: String) async -> Outcome<Data> {
        if let reason = disabled { return .unavailable(reason) }
        var request = URLRequest(url: base.appendingPathComponent(kind).appendingPathComponent(digest))
        request.httpMethod = "GET"
        switch await send(request, body: nil) {
        case .success(let (status, data)):
            if status == 200 { return .hit(data) }
            if status == 404 { return .miss }
            return .unavailable("GET \(kind)/\(digest.prefix(12))… answered HTTP \(status)")
        case .failure(let reason): return .unavailable(reason)
        }
    }

    /// Uploads; `.hit(())` on success.
    public func put(_ kind: String, _ digest: String, _ data: Data) async -> Outcome<Void> {
        if let reason = disabled { return .unavailable(reason) }
        var request = URLRequest(url: base.appendingPathComponent(kind).appendingPathComponent(digest))
        request.httpMethod = "PUT"
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        switch await send(request, body: data) {
        case .success(let (status, _)):
            return (200..<300).contains(status) ? .hit(()) : .unavailable("PUT \(kind)/\(digest.prefix(12))… answered HTTP \(status)")
        case .failure(let reason): return .unavailable(reason)
        }
    }

    /// What went wrong, in words (URLSession on Linux describes most errors by number only).
    static func describe(_ error: any Error) -> String {
        switch (error as? URLError)?.code {
        case .timedOut?: "timed out (it accepted the connection but did not answer in time)"
        case .cannotConnectToHost?: "unreachable: connection refused"
        case .cannotFindHost?, .dnsLookupFailed?: "unreachable: unknown host"
        case .networkConnectionLost?: "unreachable: the connection was closed"
        default: "unreachable: \(error.localizedDescription)"
        }
    }

    private enum Sent {
        case success((Int, Data))
        case failure(String)
    }

    private func send(_ request: URLRequest, body: Data?) async -> Sent {
        await withCheckedContinuation { continuation in
            let done: @Sendable (Data?, URLResponse?, (any Error)?) -> Void = { data, response, error in
                if let error {
                    let reason = "remote cache \(self.base.absoluteString) \(Self.describe(error))"
                    self.lock.withLock { if self.disabledReason == nil { self.disabledReason = reason } }
                    continuation.resume(returning: .failure(reason))
                    return
                }
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                continuation.resume(returning: .success((status, data ?? Data())))
            }
            let task =
                body.map { session.uploadTask(with: request, from: $0, completionHandler: done) } ?? session.dataTask(with: request, completionHandler: done)
            task.resume()
        }
    }
}
