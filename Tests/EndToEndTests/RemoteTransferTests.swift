import Foundation
import XCTest

/// A cache server on 127.0.0.1 that answers `GET` and `HEAD` with 404 at once and never answers
/// a `PUT` (nor reads its body): an upload to it hangs until the client gives up.
final class StalledUploadServer: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let lock = NSLock()
    private var accepted: [Int32] = []
    private var puts = 0

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        guard listen(fd, 16) == 0 else { throw CocoaError(.fileWriteUnknown) }
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)/cache" }
    var stalledPuts: Int { lock.withLock { puts } }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            lock.withLock { accepted.append(client) }
            Thread { [self] in handle(client) }.start()
        }
    }

    /// Answers requests on one connection until a PUT arrives, then holds it open, silent.
    private func handle(_ client: Int32) {
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            pending += buffer[0..<n]
            while let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
                pending.removeSubrange(..<end.upperBound)
                if head.hasPrefix("PUT ") {
                    lock.withLock { puts += 1 }
                    return  // never read the body, never answer
                }
                let answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                _ = answer.withCString { write(client, $0, strlen($0)) }
            }
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        for client in lock.withLock({ accepted }) {
            shutdown(client, Int32(SHUT_RDWR))
            close(client)
        }
    }
}

extension StepLifecycleTests {
    /// Ctrl-C while a blob is on its way to a remote that stopped answering: the transfer is
    /// stopped and shipgate exits 130, instead of waiting out the remote's two-minute timeout.
    func testCtrlCStopsARemoteTransferInFlight() async throws {
        let server = try StalledUploadServer()
        defer { server.stop() }
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try "x\n".write(toFile: dir + "/src/in.txt", atomically: true, encoding: .utf8)
        try write(
            """
            name: upload
            jobs:
              build:
                inputs: ["src/**"]
                outputs: ["out.bin"]
                steps: [{run: "head -c 3000000 /dev/urandom > out.bin"}]

            """)
        let shipgate = try start(["run", "--output", "plain", "--remote-cache", server.url, "--remote-timeout", "120"])
        let stalled = await poll { server.stalledPuts > 0 }
        XCTAssertTrue(stalled, "the upload reached the server")
        let interrupted = Date()
        kill(shipgate.processIdentifier, SIGINT)
        let status = await exitStatus(shipgate)
        XCTAssertEqual(status, 130)
        XCTAssertLessThan(Date().timeIntervalSince(interrupted), 60, "the transfer was stopped, not waited for (120 s timeout)")
    }
}
