import Foundation
import ShipgateModel
import XCTest

@testable import ShipgateProcess

/// The native supervisor with real processes: what a child gets, how it ends, what it printed.
final class HostProcessRunnerTests: XCTestCase {
    static let base = ProcessEnvironment.Base(["PATH": "/usr/bin:/bin", "HOME": "/nonexistent"])

    static func run(
        _ script: String, env: [String: String] = [:], directory: String = NSTemporaryDirectory(), timeout: TimeSpan = .seconds(30),
        cancellation: CancellationToken = CancellationToken(), argv: [String]? = nil
    ) async -> (ProcessOutcome, [String]) {
        let lines = Locked<[String]>([])
        let outcome = await HostProcessRunner().run(
            ProcessRequest(
                argv: argv ?? ["/bin/sh", "-c", script], environment: ProcessEnvironment(base: Self.base, overrides: env), workingDirectory: directory,
                timeout: timeout, killGrace: .millis(200)),
            cancellation: cancellation
        ) { line in lines.withLock { $0.append(line.text) } }
        return (outcome, lines.value)
    }

    func testExitCodesSignalsAndOutputInOrder() async {
        let (ok, lines) = await Self.run("echo one; echo two >&2; printf 'three'")
        XCTAssertEqual(ok.termination, .exited(0))
        XCTAssertEqual(lines, ["one", "two", "three"], "stdout and stderr merged, the last line without a newline kept")
        let (failed, _) = await Self.run("exit 7")
        XCTAssertEqual(failed.termination, .exited(7))
        XCTAssertEqual(failed.exitCode, 7)
        let (killed, _) = await Self.run("kill -9 $$")
        XCTAssertEqual(killed.termination, .signaled(9))
        XCTAssertEqual(killed.exitCode, 137)
    }

    /// The failure Foundation.Process had: output written just before exiting must never be lost.
    func testNoOutputIsLostAtExit() async {
        for _ in 0..<50 {
            let (outcome, lines) = await Self.run("i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done; printf tail")
            XCTAssertEqual(outcome.termination, .exited(0))
            XCTAssertEqual(lines.count, 201)
            XCTAssertEqual(lines.last, "tail")
        }
    }

    /// Exactly the given environment, stdin empty, no descriptor but 0–2, a group of its own,
    /// an empty signal mask, default dispositions (shipgate ignores SIGPIPE; a step must not).
    func testTheChildStartsClean() async throws {
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        let leaked = open("/dev/null", O_RDONLY)  // without O_CLOEXEC
        defer { close(leaked) }
        let (outcome, lines) = await Self.run(
            """
            env | sort | tr '\\n' ' '; echo
            cat; echo "stdin done"
            ls /proc/self/fd | sort -n | tr '\\n' ' '; echo
            ps -o pid=,pgid= -p $$ | awk '{print ($1 == $2) ? "own group" : "shared group"}'
            grep -E '^(SigBlk|SigIgn)' /proc/self/status
            """, env: ["STEP": "1"])
        XCTAssertEqual(outcome.termination, .exited(0), lines.joined(separator: "\n"))
        let names = Set(lines[0].split(separator: " ").map { String($0.prefix { $0 != "=" }) }).subtracting(["PWD", "SHLVL", "_"])
        XCTAssertEqual(names, ["HOME", "PATH", "STEP"], "only the given variables: \(lines[0])")
        XCTAssertEqual(lines[1], "stdin done", "stdin is /dev/null")
        XCTAssertEqual(lines[2].split(separator: " "), ["0", "1", "2", "3"], "0-2 and ls's own directory; nothing shipgate had open")
        XCTAssertEqual(lines[3], "own group")
        XCTAssertEqual(lines[4], "SigBlk:\t0000000000000000")
        // The standard signals (the low 31 bits) are back to their defaults, SIGPIPE included,
        // which shipgate ignores; glibc's posix_spawn leaves its internal 32 and 33 ignored.
        let ignored = UInt64(lines[5].dropFirst("SigIgn:\t".count), radix: 16)
        XCTAssertEqual(ignored.map { $0 & 0x7fff_ffff }, 0, lines[5])
    }

    func testABareCommandIsFoundInTheStepsPathNotShipgates() async throws {
        let dir = NSTemporaryDirectory() + "sg-path-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "#!/bin/sh\necho \"from the step's PATH\"\n".write(toFile: dir + "/only-here", atomically: true, encoding: .utf8)
        chmod(dir + "/only-here", 0o755)
        let (found, lines) = await Self.run("", env: ["PATH": dir + ":/usr/bin:/bin"], argv: ["only-here"])
        XCTAssertEqual(found.termination, .exited(0))
        XCTAssertEqual(lines, ["from the step's PATH"])
        let (missing, _) = await Self.run("", argv: ["only-here"])
        XCTAssertEqual(missing.termination, .failedToStart("cannot start `only-here`: not found in the step's PATH"))
    }

    func testAMissingWorkingDirectoryOrExecutableIsAnOutcomeNotACrash() async {
        let (noDir, _) = await Self.run("true", directory: "/nonexistent/dir")
        XCTAssertEqual(noDir.termination, .failedToStart("working directory /nonexistent/dir does not exist"))
        let (noFile, _) = await Self.run("", argv: ["/nonexistent/tool"])
        XCTAssertEqual(noFile.termination, .failedToStart("cannot start `/nonexistent/tool`: No such file or directory"))
    }

    func testTimeoutAndCancellationEndTheWholeGroup() async throws {
        let (timedOut, _) = await Self.run("sleep 30 & wait", timeout: .millis(100))
        XCTAssertEqual(timedOut.termination, .timedOut)
        let token = CancellationToken()
        let pidFile = NSTemporaryDirectory() + "sg-grandchild-\(UUID().uuidString)"
        defer { unlink(pidFile) }
        async let cancelled = Self.run("sleep 30 & echo $! > \(pidFile); echo ready; wait", cancellation: token)
        var polls = 0
        while polls < 1000 && (try? String(contentsOfFile: pidFile, encoding: .utf8))?.hasSuffix("\n") != true {
            polls += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        token.cancel(reason: "test")
        let (outcome, _) = await cancelled
        XCTAssertEqual(outcome.termination, .cancelled)
        let grandchild = try XCTUnwrap(Int32((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        let dead = await Self.waitDead(grandchild)
        XCTAssertTrue(dead, "the grandchild was killed with the group")
    }

    func testATokenCancelledBeforeTheStartEndsTheStepAtOnce() async {
        let token = CancellationToken()
        token.cancel(reason: "before")
        let clock = ContinuousClock()
        let start = clock.now
        let (outcome, _) = await Self.run("sleep 30", cancellation: token)
        XCTAssertEqual(outcome.termination, .cancelled)
        XCTAssertLessThan(clock.now - start, .seconds(20), "it did not sleep its 30 s")
    }

    /// After SIGTERM the step's own cleanup still runs and what it prints arrives.
    func testOutputDuringTheGracePeriodArrives() async {
        let (outcome, lines) = await Self.run(
            "trap 'echo cleaning up; exit 3' TERM; echo ready; while :; do sleep 0.01; done", timeout: .millis(200))
        XCTAssertEqual(outcome.termination, .timedOut)
        XCTAssertEqual(lines.first, "ready")
        XCTAssertEqual(lines.last, "cleaning up", "printed after SIGTERM (dash may also report its killed `sleep`): \(lines)")
    }

    func testAnIdleTimeoutEndsASilentStepAndOutputResetsIt() async {
        let lines = Locked<[String]>([])
        let outcome = await HostProcessRunner().run(
            ProcessRequest(
                argv: ["/bin/sh", "-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.1; done; sleep 30"],
                environment: ProcessEnvironment(base: Self.base), workingDirectory: NSTemporaryDirectory(), timeout: .seconds(60),
                killGrace: .millis(200), idleTimeout: .millis(300)),
            cancellation: CancellationToken()
        ) { line in lines.withLock { $0.append(line.text) } }
        XCTAssertEqual(outcome.termination, .idleTimedOut)
        XCTAssertEqual(lines.value, ["1", "2", "3", "4", "5"], "printing every 0.1 s kept it alive; 0.5 s in all, longer than the limit")
    }

    /// A consumer of output that blocks (a stalled terminal) must not hold a deadline: the step
    /// is killed on time while `onLine` is still blocked.
    func testABlockedOutputConsumerDoesNotHoldTheTimeout() async throws {
        let pidFile = NSTemporaryDirectory() + "sg-blocked-\(UUID().uuidString)"
        defer { unlink(pidFile) }
        let release = Locked(false)
        let watcher = Task.detached { await HostProcessRunnerTests.releaseWhenDead(pidFile: pidFile, release: release) }
        let outcome = await HostProcessRunner().run(
            ProcessRequest(
                argv: ["/bin/sh", "-c", "echo $$ > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile); echo blocked; exec sleep 30"],
                environment: ProcessEnvironment(base: Self.base), workingDirectory: NSTemporaryDirectory(), timeout: .millis(200),
                killGrace: .millis(200)),
            cancellation: CancellationToken()
        ) { _ in
            while !release.value { usleep(1000) }  // blocked until the step is dead
        }
        let killedWhileBlocked = await watcher.value
        XCTAssertTrue(killedWhileBlocked, "the step died while its output consumer was blocked")
        XCTAssertEqual(outcome.termination, .timedOut)
    }

    /// Once the step wrote its pid and is dead (killed by its timeout), lets `onLine` go on.
    /// True when it died while `onLine` was held.
    static func releaseWhenDead(pidFile: String, release: Locked<Bool>) async -> Bool {
        var found: Int32? = nil
        var polls = 0
        while found == nil && polls < 2000 {
            polls += 1
            found = readPID(pidFile)
            if found == nil { try? await Task.sleep(for: .milliseconds(5)) }
        }
        defer { release.withLock { $0 = true } }
        guard let pid = found else { return false }
        return await waitDead(pid, seconds: 10)
    }

    static func readPID(_ path: String) -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Waits up to `seconds` for `pid` to be gone or a zombie.
    static func waitDead(_ pid: Int32, seconds: Double = 5) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        while clock.now < deadline {
            if kill(pid, 0) != 0 || isZombie(pid) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return kill(pid, 0) != 0 || isZombie(pid)
    }

    /// Many children at once share the one supervisor thread; each gets its own outcome.
    func testManyConcurrentChildren() async {
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask {
                    let (outcome, lines) = await Self.run("echo \(i); exit \(i % 3)")
                    XCTAssertEqual(outcome.termination, .exited(Int32(i % 3)))
                    XCTAssertEqual(lines, ["\(i)"])
                }
            }
        }
    }

    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}

final class LineSplitterTests: XCTestCase {
    func split(_ chunks: [String], maxLine: Int = 64 * 1024) -> [OutputLine] {
        var splitter = LineSplitter(maxLine: maxLine)
        var out: [OutputLine] = []
        for chunk in chunks { Array(chunk.utf8).withUnsafeBytes { splitter.feed($0) { out.append($0) } } }
        splitter.finish { out.append($0) }
        return out
    }

    func testLinesAcrossChunksCRLFAndATailWithoutNewline() {
        XCTAssertEqual(split(["a\nb", "c\r\n", "\nd"]).map(\.text), ["a", "bc", "", "d"])
        XCTAssertEqual(split([]).count, 0)
        XCTAssertEqual(split(["\n"]).map(\.text), [""])
    }

    func testLongLinesArriveInMarkedPieces() {
        let lines = split([String(repeating: "x", count: 10), "yy\nz"], maxLine: 4)
        XCTAssertEqual(lines.map(\.text), ["xxxx", "xxxx", "xxyy", "z"], "a line of exactly the limit ends at its newline")
        XCTAssertEqual(lines.map(\.continued), [true, true, false, false])
    }

    func testInvalidUTF8BecomesReplacementCharacters() {
        var splitter = LineSplitter()
        var out: [String] = []
        ([0x61, 0xFF, 0x62, 0x0A] as [UInt8]).withUnsafeBytes { splitter.feed($0) { out.append($0.text) } }
        XCTAssertEqual(out, ["a\u{FFFD}b"])
    }
}
