import Foundation
import XCTest

/// Faults around shipgate: a full disk, a read-only state directory, a state database another
/// process holds locked. Each test states the documented behaviour (docs/reliability.md).
/// The disk tests mount a small tmpfs, which needs root: they skip elsewhere, unless
/// SHIPGATE_REQUIRE_MOUNT=1 (scripts/test.sh sets it; CI runs as root).
final class FaultTests: XCTestCase {
    var dir = ""
    var mounted: [String] = []

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-fault-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/ws/src", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        try "x\n".write(toFile: dir + "/ws/src/a", atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        for m in mounted.reversed() { _ = try? Self.sh("umount \(m)") }
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    static func sh(_ command: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Mounts a tmpfs of `size` on the state directory.
    func mountState(size: String, readOnly: Bool = false) throws {
        let status = try Self.sh("mount -t tmpfs -o \(readOnly ? "ro," : "")size=\(size) tmpfs \(dir)/state")
        guard status == 0 else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_MOUNT"] == "1" { XCTFail("cannot mount a tmpfs (needs root)") }
            throw XCTSkip("mounting a tmpfs needs root")
        }
        mounted.append(dir + "/state")
    }

    func run(_ pipeline: String) async throws -> CLI.Output {
        try pipeline.write(toFile: dir + "/ws/shipgate.yml", atomically: true, encoding: .utf8)
        return try await CLI.run(["run", "--state-dir", dir + "/state", "--output", "plain"], in: dir + "/ws")
    }

    func testDiskFullDuringCacheSaveIsAWarningAndLeavesNoDebris() async throws {
        try mountState(size: "3m")
        let out = try await run(
            """
            name: df
            jobs:
              big:
                inputs: ["src/**"]
                outputs: ["out/**"]
                steps: [{ run: 'mkdir -p out && head -c 6000000 /dev/urandom > out/big.bin' }]
              after: { needs: [big], steps: [{ run: 'echo after ok' }] }

            """)
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("warning: cache not saved: no space left on device"), out.stdout)
        XCTAssertTrue(out.stdout.contains("after ok"))
        let temp = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/state/cache/tmp")) ?? []
        XCTAssertEqual(temp, [], "the partial blob was removed")
    }

    func testDiskFullDuringLogWritingCountsTheLostLines() async throws {
        try mountState(size: "3m")
        let out = try await run(
            """
            name: df
            jobs:
              loud: { steps: [{ run: 'head -c 6000000 /dev/zero | tr "\\\\0" x | fold -w 100; echo done' }] }
              after: { needs: [loud], steps: [{ run: 'echo after ok' }] }

            """)
        XCTAssertEqual(out.status, 4, "the jobs succeeded; only their record suffered, and the exit status says so: \(out.stdout.suffix(1500))")
        XCTAssertTrue(out.stdout.contains("line(s) could not be written to"), String(out.stdout.suffix(2000)))
        XCTAssertTrue(out.stdout.contains("after ok"))
    }

    /// The state disk fills up under a run: the journal lines that cannot be written are a
    /// warning on the terminal, the run goes on, and the exit status (4) says its record may be
    /// incomplete although every job succeeded.
    func testAJournalThatCannotBeWrittenIsAWarningAndTheExitStatusSaysSo() async throws {
        try mountState(size: "2m")
        let out = try await run(
            """
            name: full
            jobs:
              fill: { steps: [{ run: 'cat /dev/zero > \(dir)/state/filler 2>/dev/null || echo filled' }] }
              after: { needs: [fill], steps: [{ run: 'echo after ok' }] }

            """)
        XCTAssertEqual(out.status, 4, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("warning: cannot append `fill` to the run journal"), out.stdout)
        XCTAssertTrue(out.stdout.contains("No space left on device"), out.stdout)
        XCTAssertTrue(out.stdout.contains("may be incomplete"), out.stdout)
        XCTAssertFalse(out.stdout.contains("NSCocoaErrorDomain"), "errors in words: \(out.stdout)")
        XCTAssertTrue(out.stdout.contains("after ok"), "the run went on")
        XCTAssertEqual(out.stdout.components(separatedBy: "to the run journal").count - 1, 1, "one warning per kind, not one per job")
    }

    func testAReadOnlyStateDirectoryIsAClearError() async throws {
        try mountState(size: "1m", readOnly: true)
        let out = try await run("name: ro\njobs: {a: {steps: [{run: 'echo never'}]}}\n")
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.lowercased().contains("read-only") || out.stderr.lowercased().contains("read only"), out.stderr)
        XCTAssertTrue(out.stderr.contains("hint: pass a writable --state-dir"), out.stderr)
        XCTAssertFalse(out.stdout.contains("never"), "nothing ran")
    }

    /// Another process holds the state database locked while a run starts: the run waits and
    /// records everything. The lock is released only once the second shipgate has the database
    /// open (seen in /proc), so the run cannot slip in after the lock is gone.
    func testAStateDatabaseLockedByAnotherProcessIsWaitedFor() async throws {
        let first = try await run("name: lock\njobs: {a: {steps: [{run: 'echo one'}]}}\n")
        XCTAssertEqual(first.status, 0, first.stderr)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = [
            "python3", "-c",
            "import sqlite3,os,time,sys; db=sqlite3.connect(sys.argv[1], isolation_level=None); db.execute('BEGIN EXCLUSIVE'); open(sys.argv[2],'w').close()\n"
                + "while not os.path.exists(sys.argv[3]): time.sleep(0.01)\ndb.execute('COMMIT')",
            dir + "/state/state.db", dir + "/locked", dir + "/release",
        ]
        try holder.run()
        defer {
            FileManager.default.createFile(atPath: dir + "/release", contents: nil)
            holder.waitUntilExit()
        }
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: dir + "/locked") { try await Task.sleep(for: .milliseconds(10)) }
        try "name: lock\njobs: {a: {steps: [{run: 'echo two'}]}}\n".write(toFile: dir + "/ws/shipgate.yml", atomically: true, encoding: .utf8)
        let second = Process()
        second.executableURL = URL(fileURLWithPath: CLI.binary)
        second.arguments = ["run", "--state-dir", dir + "/state", "--output", "plain"]
        second.currentDirectoryURL = URL(fileURLWithPath: dir + "/ws")
        let errors = Pipe()
        second.standardOutput = FileHandle.nullDevice
        second.standardError = errors
        try second.run()
        // Barrier: the run has the locked database open. Then give it time to meet the lock.
        let database = dir + "/state/state.db"
        let opened = {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(second.processIdentifier)/fd")) ?? []).contains {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(second.processIdentifier)/fd/\($0)")) == database
            }
        }
        var polls = 0
        while polls < 1000 && second.isRunning && !opened() {
            polls += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTAssertTrue(second.isRunning, "the run ended while another process held the database locked")
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertTrue(second.isRunning, "the run finished without waiting for the lock")
        FileManager.default.createFile(atPath: dir + "/release", contents: nil)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        XCTAssertEqual(second.terminationStatus, 0, stderr)
        XCTAssertFalse(stderr.contains("warning"), "the run waited for the lock instead of skipping the record: \(stderr)")
        let status = try await CLI.run(["status", "--state-dir", dir + "/state", "--json"], in: dir + "/ws")
        XCTAssertTrue(status.stdout.contains("\"status\" : \"success\""), status.stdout)
    }
}
