import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The process's HTTP clients (AsyncHTTPClient): one pooled client per setting (idle timeout,
/// redirects, proxy), made on first use and kept for the process's life, so every remote
/// cache, verify probe and console call of a run shares its connections. In practice a run
/// uses one or two.
///
/// The idle timeout bounds connecting and every wait for the next byte in either direction: a
/// server that accepts the connection and never answers costs no CPU and fails after that long,
/// however long a transfer is allowed to take as a whole (its deadline).
///
/// Proxies: `https_proxy`/`http_proxy` (either case) are honoured for their scheme, as libcurl
/// does, except for hosts in `no_proxy` and loopback addresses.
public enum HTTPClients {
    public struct Setting: Hashable, Sendable {
        public var idleTimeout: Duration
        public var followRedirects: Bool
        public var proxy: Proxy?

        public init(idleTimeout: Duration, followRedirects: Bool = false, proxy: Proxy? = nil) {
            self.idleTimeout = idleTimeout
            self.followRedirects = followRedirects
            self.proxy = proxy
        }
    }

    public struct Proxy: Hashable, Sendable {
        public var host: String
        public var port: Int
    }

    private static let clients = Mutex<[Setting: HTTPClient]>([:])

    public static func client(_ setting: Setting) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[setting] { return client }
            let idle = setting.idleTimeout.timeAmount
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: setting.followRedirects ? .follow(max: 5, allowCycles: false) : .disallow,
                timeout: .init(connect: idle, read: idle, write: idle),
                decompression: .disabled
            )
            configuration.connectionPool = .init(idleTimeout: .seconds(60))
            configuration.httpVersion = .http1Only
            if let proxy = setting.proxy { configuration.proxy = .server(host: proxy.host, port: proxy.port) }
            // Never shut down: it lives as long as the process (as `HTTPClient.shared` does).
            let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            clients[setting] = client
            return client
        }
    }

    /// The client for requests to `url` with `idleTimeout`, through the proxy the environment names.
    public static func client(
        for url: URL, idleTimeout: Duration, followRedirects: Bool = false, environment: [String: String] = ProcessInfo.processInfo.environment
    )
        -> HTTPClient
    {
        client(Setting(idleTimeout: idleTimeout, followRedirects: followRedirects, proxy: proxy(for: url, environment: environment)))
    }

    /// The proxy for `url` by `http_proxy`/`https_proxy`/`no_proxy`, as libcurl reads them.
    public static func proxy(for url: URL, environment: [String: String]) -> Proxy? {
        guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return nil }
        func variable(_ name: String) -> String? {
            (environment[name] ?? environment[name.uppercased()]).flatMap { $0.isEmpty ? nil : $0 }
        }
        if ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host) || host.hasPrefix("127.") { return nil }
        if let list = variable("no_proxy") {
            for raw in list.split(separator: ",") {
                let entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
                if entry == "*" { return nil }
                let domain = entry.hasPrefix(".") ? String(entry.dropFirst()) : entry
                if !domain.isEmpty, host == domain || host.hasSuffix("." + domain) { return nil }
            }
        }
        guard let text = variable(scheme == "https" ? "https_proxy" : "http_proxy") else { return nil }
        guard let proxy = URL(string: text.contains("://") ? text : "http://" + text), let proxyHost = proxy.host else { return nil }
        return Proxy(host: proxyHost, port: proxy.port ?? 80)
    }

    /// What went wrong, in words, for errors AsyncHTTPClient and NIO throw.
    public static func describe(_ error: any Error) -> String {
        if error is CancellationError { return "cancelled" }
        if let e = error as? HTTPClientError {
            switch e {
            case .readTimeout, .writeTimeout: return "timed out (it accepted the connection but stopped answering)"
            case .connectTimeout: return "timed out connecting"
            case .deadlineExceeded: return "timed out (the request took longer than allowed)"
            case .cancelled: return "cancelled"
            case .remoteConnectionClosed: return "unreachable: the connection was closed"
            case .tlsHandshakeTimeout: return "timed out in the TLS handshake"
            default: return "failed: \(e)"
            }
        }
        if let e = error as? NIOConnectionError {
            if e.connectionErrors.isEmpty, e.dnsAError != nil || e.dnsAAAAError != nil { return "unreachable: unknown host \(e.host)" }
            if let first = e.connectionErrors.first { return "unreachable: " + describe(first.error) }
            return "unreachable: cannot connect to \(e.host):\(e.port)"
        }
        if let e = error as? IOError {
            switch e.errnoCode {
            case ECONNREFUSED: return "unreachable: connection refused"
            case ECONNRESET, EPIPE: return "unreachable: the connection was closed"
            case EHOSTUNREACH, ENETUNREACH: return "unreachable: no route to host"
            default: return "unreachable: \(String(cString: strerror(e.errnoCode)))"
            }
        }
        if error is NIOCore.ChannelError { return "unreachable: \(error)" }
        return "failed: \(error)"
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        .nanoseconds(Int64(components.seconds) * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }
}

/// Small requests whose answer is a status and a short body (probes, the console's API).
public enum HTTPRequests {
    /// `GET url`: the status once the whole body arrived (the body is dropped).
    public static func get(_ url: URL, timeout: Duration, followRedirects: Bool) async throws -> Int {
        let request = HTTPClientRequest(url: url.absoluteString)
        let client = HTTPClients.client(for: url, idleTimeout: timeout, followRedirects: followRedirects)
        let response = try await client.execute(request, deadline: .now() + timeout.timeAmount)
        for try await _ in response.body {}
        return Int(response.status.code)
    }

    /// `POST url` with a JSON body and headers; the status and up to `limit` bytes of the answer.
    public static func postJSON(_ url: URL, body: [UInt8], headers: [(String, String)], timeout: Duration, limit: Int = 1 << 20) async throws -> (
        status: Int, body: [UInt8]
    ) {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(body)
        let client = HTTPClients.client(for: url, idleTimeout: timeout)
        let response = try await client.execute(request, deadline: .now() + timeout.timeAmount)
        let data = try await response.body.collect(upTo: limit)
        return (Int(response.status.code), Array(buffer: data))
    }
}
