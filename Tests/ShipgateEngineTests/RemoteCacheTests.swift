import Foundation
import ShipgateCache
import ShipgateEngine
import Subprocess
import XCTest

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// A real nginx with WebDAV PUT on 127.0.0.1, started and stopped around each test.
/// It runs as a daemon (its launcher exits at once) and is stopped by the pid in its pid file:
/// no Foundation.Process, whose `waitUntilExit` hangs next to swift-subprocess here.
final class NginxServer: @unchecked Sendable {
    let root: String
    let port: Int

    static var binary: String? {
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init(binary: String) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-nginx-\(UUID().uuidString)").path
        for dir in ["data", "body", "logs"] { try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true) }
        port = try Self.freePort()
        let config = """
            \(getuid() == 0 ? "user root;" : "")
            worker_processes 1;
            pid \(root)/nginx.pid;
            error_log \(root)/logs/error.log;
            events { worker_connections 64; }
            http {
              access_log \(root)/logs/access.log;
              client_body_temp_path \(root)/body;
              server {
                listen 127.0.0.1:\(port);
                root \(root)/data;
                location / {
                  dav_methods PUT DELETE;
                  create_full_put_path on;
                  dav_access user:rw group:r all:r;
                  client_max_body_size 0;
                }
              }
            }
            """
        try config.write(toFile: root + "/nginx.conf", atomically: true, encoding: .utf8)
        let launched = Self.launch(binary, ["-c", root + "/nginx.conf", "-p", root + "/"])
        guard launched == 0 else {
            throw NginxFailure.didNotStart(
                "nginx did not start (exit \(launched)): \((try? String(contentsOfFile: root + "/logs/error.log", encoding: .utf8)) ?? "")")
        }
        // Ready when the port accepts connections.
        for _ in 0..<200 {
            if Self.accepts(port) { return }
            usleep(20_000)
        }
        stop()
        throw NginxFailure.didNotStart("nginx did not start: \((try? String(contentsOfFile: root + "/logs/error.log", encoding: .utf8)) ?? "")")
    }

    var url: String { "http://127.0.0.1:\(port)/cache" }

    /// nginx, or a skip; a failure when `SHIPGATE_REQUIRE_NGINX=1` (CI), so a missing install step shows.
    static func required() throws -> String {
        if let binary { return binary }
        if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_NGINX"] == "1" {
            XCTFail("nginx is not installed and SHIPGATE_REQUIRE_NGINX=1 (Debian: nginx-light; .ci/run installs it)")
        }
        throw XCTSkip("nginx is not installed (Debian: nginx-light); .ci/run installs it")
    }

    /// The access log's request lines (`PUT /cache/cas/…`), in order.
    func requests() -> [String] {
        let text = (try? String(contentsOfFile: root + "/logs/access.log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let start = line.firstIndex(of: "\""), let end = line[line.index(after: start)...].firstIndex(of: "\"") else { return nil }
            return line[line.index(after: start)..<end].split(separator: " ").prefix(2).joined(separator: " ")
        }
    }

    /// Runs the launcher to completion on a helper thread (the test is synchronous here).
    private static func launch(_ binary: String, _ arguments: [String]) -> Int32 {
        let status = LockedStatus()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let result = try? await Subprocess.run(.path(FilePath(binary)), arguments: Arguments(arguments), output: .discarded, error: .discarded)
            if case .exited(let code)? = result?.terminationStatus { status.set(Int32(code)) } else { status.set(-1) }
            done.signal()
        }
        done.wait()
        return status.get()
    }

    /// Stops the daemon and waits until its master process is gone.
    func stop() {
        guard let text = try? String(contentsOfFile: root + "/nginx.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return }
        kill(pid, SIGTERM)
        for _ in 0..<250 {
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).flatMap {
                $0.split(separator: ")").last?.split(separator: " ").first
            }
            if state == nil || state == "Z" { break }
            usleep(20_000)
        }
        try? FileManager.default.removeItem(atPath: root + "/nginx.pid")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    static func freePort() throws -> Int {
        let (fd, port) = boundSocket()
        close(fd)
        return port
    }

    /// A TCP socket bound to a free port on 127.0.0.1 (the caller closes it).
    static func boundSocket() -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

enum NginxFailure: Error { case didNotStart(String) }

final class LockedStatus: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int32 = -1
    func set(_ v: Int32) {
        lock.lock()
        value = v
        lock.unlock()
    }
    func get() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

final class RemoteCacheTests: XCTestCase {
    let pipeline = """
        name: remote
        jobs:
          build:
            inputs: ["src/**"]
            outputs: ["dist/out.txt"]
            steps: [{run: "mkdir -p dist && echo ran >> ran.log && tr a-z A-Z < src/in.txt > dist/out.txt"}]
        """

    func testTwoStateDirectoriesShareResultsThroughTheRemote() async throws {
        let binary = try NginxServer.required()
        let server = try NginxServer(binary: binary)
        let machineA = try Harness(), machineB = try Harness()
        defer {
            machineA.cleanUp()
            machineB.cleanUp()
        }
        for m in [machineA, machineB] { try m.write("src/in.txt", "hello remote\n") }
        let a = try await machineA.run(pipeline, cache: true, remote: server.url)
        XCTAssertEqual(a.job("build")?.status, .success)
        XCTAssertEqual(a.warnings, [])
        let stored = try FileManager.default.subpathsOfDirectory(atPath: server.root + "/data/cache")
        XCTAssertTrue(stored.contains { $0.hasPrefix("ac/") } && stored.contains { $0.hasPrefix("cas/") }, "\(stored)")

        // Another machine, its own empty local cache: restored from the remote, step not run.
        let b = try await machineB.run(pipeline, cache: true, remote: server.url)
        XCTAssertEqual(b.job("build")?.status, .cached)
        XCTAssertEqual(machineB.read("dist/out.txt"), "HELLO REMOTE\n")
        XCTAssertNil(machineB.read("ran.log"))
        XCTAssertTrue(b.notices(of: "build").contains { $0.contains("(remote cache)") })
        // And the hit was written back locally: works with the remote gone.
        server.stop()
        try FileManager.default.removeItem(atPath: machineB.workspace + "/dist")
        let c = try await machineB.run(pipeline, cache: true)
        XCTAssertEqual(c.job("build")?.status, .cached)
    }

    /// Saving the same entry again sends no blob: the runner asks (`HEAD`) first. Counted from
    /// nginx's access log, the server's own record of what arrived.
    func testASecondSaveOfTheSameEntrySendsNoBlob() async throws {
        let server = try NginxServer(binary: try NginxServer.required())
        let h = try Harness()
        defer { h.cleanUp() }
        try h.write("src/in.txt", "hello remote\n")
        let first = try await h.run(pipeline, cache: true, remote: server.url)
        XCTAssertEqual(first.job("build")?.status, .success)
        let blobPuts = { server.requests().filter { $0.hasPrefix("PUT /cache/cas/") } }
        let sent = blobPuts()
        XCTAssertFalse(sent.isEmpty, "the first save sends its blobs: \(server.requests())")

        // The job runs again (no lookups) and saves the same entry.
        let second = try await h.run(pipeline, cache: true, noCache: true, remote: server.url)
        XCTAssertEqual(second.job("build")?.status, .success)
        XCTAssertEqual(second.warnings, [])
        XCTAssertEqual(blobPuts(), sent, "no blob is sent twice")
        let heads = server.requests().filter { $0.hasPrefix("HEAD /cache/cas/") }
        XCTAssertEqual(Set(heads.map { $0.dropFirst(5) }), Set(sent.map { $0.dropFirst(4) }), "each blob was asked about: \(server.requests())")
        XCTAssertEqual(server.requests().filter { $0.hasPrefix("PUT /cache/ac/") }.count, 2, "the entry itself is small and sent each time")
    }

    /// A blob much larger than any buffer streams both ways and arrives whole and verified.
    func testALargeBlobStreamsBothWaysAndIsVerified() async throws {
        let server = try NginxServer(binary: try NginxServer.required())
        let a = try Harness(), b = try Harness()
        defer {
            a.cleanUp()
            b.cleanUp()
        }
        let big = """
            name: big
            jobs:
              build:
                inputs: ["src/**"]
                outputs: ["dist/big.bin"]
                steps: [{run: "mkdir -p dist && head -c 40000000 /dev/urandom > dist/big.bin && echo ran >> ran.log"}]
            """
        for m in [a, b] { try m.write("src/in.txt", "x\n") }
        let first = try await a.run(big, cache: true, remote: server.url)
        XCTAssertEqual(first.job("build")?.status, .success)
        let second = try await b.run(big, cache: true, remote: server.url)
        XCTAssertEqual(second.job("build")?.status, .cached, "\(second.warnings)")
        XCTAssertNil(b.read("ran.log"))
        let original = try Data(contentsOf: URL(fileURLWithPath: a.workspace + "/dist/big.bin"))
        let restored = try Data(contentsOf: URL(fileURLWithPath: b.workspace + "/dist/big.bin"))
        XCTAssertEqual(original.count, 40_000_000)
        XCTAssertTrue(original == restored, "the restored file is the same bytes")
    }

    func testRemoteReturningWrongBytesIsRejected() async throws {
        let binary = try NginxServer.required()
        let server = try NginxServer(binary: binary)
        let a = try Harness(), b = try Harness()
        defer {
            a.cleanUp()
            b.cleanUp()
        }
        for m in [a, b] { try m.write("src/in.txt", "x\n") }
        _ = try await a.run(pipeline, cache: true, remote: server.url)
        // Tamper with every blob on the server.
        let cas = server.root + "/data/cache/cas"
        for blob in try FileManager.default.contentsOfDirectory(atPath: cas) {
            try "evil".write(toFile: cas + "/" + blob, atomically: false, encoding: .utf8)
        }
        let out = try await b.run(pipeline, cache: true, remote: server.url)
        XCTAssertEqual(out.job("build")?.status, .success, "ran instead of using the wrong bytes")
        XCTAssertEqual(b.read("dist/out.txt"), "X\n")
        XCTAssertTrue(out.warnings.contains { $0.contains("returned wrong bytes") }, "\(out.warnings)")
    }

    func testAnUnreachableRemoteIsAWarningNotAFailure() async throws {
        let h = try Harness()
        defer { h.cleanUp() }
        try h.write("src/in.txt", "x\n")
        let port = try NginxServer.freePort()  // nothing listens there
        let start = Date()
        let out = try await h.run(pipeline, cache: true, remote: "http://127.0.0.1:\(port)/cache")
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(out.warnings.count, 1, "one warning per run, not per request: \(out.warnings)")
        XCTAssertTrue(out.warnings[0].contains("unreachable"), out.warnings[0])
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
    }

    /// A remote that accepts connections and never answers (a hung cache server): each
    /// request times out, the remote is then left alone for the run, and the job runs.
    func testAHangingRemoteTimesOutAndTheRunGoesOn() async throws {
        let (fd, port) = NginxServer.boundSocket()
        defer { close(fd) }
        XCTAssertEqual(listen(fd, 16), 0)  // the kernel completes connections; nobody reads or answers
        let h = try Harness()
        defer { h.cleanUp() }
        try h.write("src/in.txt", "x\n")
        let start = Date()
        let out = try await h.run(pipeline, cache: true, remote: "http://127.0.0.1:\(port)/cache")
        XCTAssertEqual(out.result.status, .success)
        XCTAssertEqual(out.job("build")?.status, .success)
        XCTAssertEqual(out.warnings.count, 1, "one warning, then the remote is left alone: \(out.warnings)")
        XCTAssertTrue(out.warnings.first?.contains("timed out") ?? false, "\(out.warnings)")
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "bounded by the request timeout")
    }
}
