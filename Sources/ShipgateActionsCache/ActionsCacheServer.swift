import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ShipgateCache
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The cache service `@actions/cache` talks to, on 127.0.0.1 for one run: GitHub's v1 protocol
/// (`ACTIONS_CACHE_URL`), which every toolkit release bundled in actions today still uses when
/// `ACTIONS_CACHE_SERVICE_V2` is not set.
///
/// Routes, under `/<token>/` (a random path segment: the URL is the credential, as the
/// download of an archive carries no header), each also needing `Authorization: Bearer
/// <runtime token>` except the download:
/// - `GET _apis/artifactcache/cache?keys=k1,k2&version=V` → 200 `{cacheKey, scope,
///   archiveLocation}`, or 204 when nothing matches;
/// - `POST _apis/artifactcache/caches` `{key, version, cacheSize}` → `{cacheId}`, 409 when the
///   entry exists;
/// - `PATCH _apis/artifactcache/caches/<id>` with `Content-Range: bytes S-E/*` → 204 (chunks
///   arrive in parallel and in any order);
/// - `POST _apis/artifactcache/caches/<id>` `{size}` → 204;
/// - `GET _blobs/<sha256>` → the archive, with `Content-Length`.
/// Entries are scoped by repository and ref (`ActionsCacheScopes`): written to the run's own
/// ref, read from it, the pull request's base branch and the default branch, in that order.
public final class ActionsCacheServer: Sendable {
    public let store: ActionsCacheStore
    public let scopes: ActionsCacheScopes
    public let pathToken: String
    public let runtimeToken: String
    let task = Mutex<Task<Void, any Error>?>(nil)

    public init(store: ActionsCacheStore, scopes: ActionsCacheScopes) {
        self.store = store
        self.scopes = scopes
        pathToken = Self.randomToken()
        runtimeToken = Self.randomToken()
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Starts listening on 127.0.0.1 (a free port); returns the variables the toolkit reads.
    public func start() async throws -> [String: String] {
        let port = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "shipgate-actions-cache"),
            onServerRunning: { channel in
                port.continuation.yield(channel.localAddress?.port ?? 0)
                port.continuation.finish()
            },
            logger: Logger(label: "shipgate.actions-cache", factory: { _ in SwiftLogNoOpLogHandler() }))
        // No signal handling of its own: Ctrl-C is the run's to handle (post steps still save).
        task.withLock {
            $0 = Task {
                defer { port.continuation.finish() }  // a failed bind ends the wait below too
                try await app.runService(gracefulShutdownSignals: [])
            }
        }
        var bound = 0
        for await p in port.stream {
            bound = p
            break
        }
        guard bound > 0 else { throw CacheError.io("the actions cache service did not start") }
        let base = "http://127.0.0.1:\(bound)/\(pathToken)/"
        // Not ACTIONS_RUNTIME_URL: that is the artifact service's, which this does not serve.
        return ["ACTIONS_CACHE_URL": base, "ACTIONS_RUNTIME_TOKEN": runtimeToken]
    }

    /// Stops listening without waiting for it (for a `defer`); uploads in progress are dropped.
    public func stopNow() {
        let running = task.withLock { t -> Task<Void, any Error>? in
            defer { t = nil }
            return t
        }
        running?.cancel()
        store.removeUploads()
    }

    public func stop() async {
        let running = task.withLock { t -> Task<Void, any Error>? in
            defer { t = nil }
            return t
        }
        running?.cancel()
        _ = try? await running?.value
        store.removeUploads()
    }

    func authorized(_ request: Request, _ context: BasicRequestContext) -> Bool {
        guard context.parameters.get("token") == pathToken else { return false }
        return request.headers[.authorization] == "Bearer \(runtimeToken)"
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let api = "/:token/_apis/artifactcache"
        router.get(RouterPath(stringLiteral: api + "/cache")) { request, context -> Response in
            guard self.authorized(request, context) else { return Self.json(.unauthorized, #"{"message":"unauthorized"}"#) }
            let keys = String(request.uri.queryParameters["keys"] ?? "").split(separator: ",").map { String($0) }
            let version = String(request.uri.queryParameters["version"] ?? "")
            guard let entry = self.store.find(in: self.scopes.read, keys: keys, version: version) else { return Response(status: .noContent) }
            let host = request.head.authority ?? "127.0.0.1"
            let location = "http://\(host)/\(self.pathToken)/_blobs/\(entry.blob)"
            return Self.json(.ok, Self.object(["cacheKey": entry.key, "scope": entry.scope, "archiveLocation": location]))
        }
        router.post(RouterPath(stringLiteral: api + "/caches")) { request, context -> Response in
            guard self.authorized(request, context) else { return Self.json(.unauthorized, #"{"message":"unauthorized"}"#) }
            let body = try await request.body.collect(upTo: 64 * 1024)
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any], let key = object["key"] as? String,
                let version = object["version"] as? String, !key.isEmpty
            else { return Self.json(.badRequest, #"{"message":"key and version are required"}"#) }
            let size = (object["cacheSize"] as? NSNumber)?.int64Value
            do {
                let id = try self.store.reserve(scope: self.scopes.write, key: key, version: version, size: size)
                return Self.json(.created, #"{"cacheId":\#(id)}"#)
            } catch ActionsCacheStore.ReserveError.exists {
                return Self.json(.conflict, Self.object(["message": "Cache already exists. Scope: \(self.scopes.write), Key: \(key), Version: \(version)"]))
            } catch {
                return Self.json(.badRequest, Self.object(["message": "the cache is larger than \(ActionsCacheStore.maxSize) bytes"]))
            }
        }
        router.patch(RouterPath(stringLiteral: api + "/caches/:id")) { request, context -> Response in
            guard self.authorized(request, context) else { return Self.json(.unauthorized, #"{"message":"unauthorized"}"#) }
            guard let id = context.parameters.get("id").flatMap({ Int($0) }), self.store.uploadPath(id) != nil else {
                return Self.json(.notFound, #"{"message":"no such reservation"}"#)
            }
            guard let range = request.headers[.contentRange], let start = Self.rangeStart(range) else {
                return Self.json(.badRequest, #"{"message":"Content-Range: bytes START-END/* is required"}"#)
            }
            var offset = start
            for try await buffer in request.body {
                let ok = buffer.withUnsafeReadableBytes { self.store.write(id, offset: offset, bytes: $0) }
                guard ok else { return Self.json(.internalServerError, #"{"message":"cannot write the chunk"}"#) }
                offset += Int64(buffer.readableBytes)
            }
            return Response(status: .noContent)
        }
        router.post(RouterPath(stringLiteral: api + "/caches/:id")) { request, context -> Response in
            guard self.authorized(request, context) else { return Self.json(.unauthorized, #"{"message":"unauthorized"}"#) }
            guard let id = context.parameters.get("id").flatMap({ Int($0) }) else { return Self.json(.notFound, #"{"message":"no such reservation"}"#) }
            let body = try await request.body.collect(upTo: 64 * 1024)
            let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
            guard let size = (object?["size"] as? NSNumber)?.int64Value else { return Self.json(.badRequest, #"{"message":"size is required"}"#) }
            do {
                _ = try self.store.commit(id, size: size)
                return Response(status: .noContent)
            } catch ActionsCacheStore.CommitError.unknown {
                return Self.json(.notFound, #"{"message":"no such reservation"}"#)
            } catch ActionsCacheStore.CommitError.sizeMismatch(let expected, let actual) {
                return Self.json(.badRequest, Self.object(["message": "the upload has \(actual) bytes, not \(expected)"]))
            } catch {
                return Self.json(.internalServerError, Self.object(["message": "\(error)"]))
            }
        }
        router.get("/:token/_blobs/:digest") { request, context -> Response in
            guard context.parameters.get("token") == self.pathToken, let digest = context.parameters.get("digest"),
                let path = self.store.blobPath(digest, scopes: self.scopes.read)
            else { return Self.json(.notFound, #"{"message":"not found"}"#) }
            var st = stat()
            guard stat(path, &st) == 0 else { return Self.json(.notFound, #"{"message":"not found"}"#) }
            let length = Int(st.st_size)
            let body = ResponseBody(contentLength: length) { writer in
                guard let handle = FileHandle(forReadingAtPath: path) else { throw CacheError.io("cannot read \(path)") }
                defer { try? handle.close() }
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[.contentLength] = String(length)
            return Response(status: .ok, headers: headers, body: body)
        }
        return router
    }

    /// `bytes 0-1023/*` → 0.
    public static func rangeStart(_ header: String) -> Int64? {
        guard header.hasPrefix("bytes "), let dash = header.firstIndex(of: "-"),
            let start = Int64(header[header.index(header.startIndex, offsetBy: 6)..<dash]), start >= 0, start <= ActionsCacheStore.maxSize
        else { return nil }
        return start
    }

    static func object(_ values: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
