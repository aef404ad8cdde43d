import Foundation
import XCTest

/// How a running step looks from outside, through the built binary and real processes:
/// streamed logs, the grace period on timeout and Ctrl-C, idle timeouts, exit reasons.
final class StepLifecycleTests: XCTestCase {
    var dir = ""
    var mark = ""
    var started: [Process] = []

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-life-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        mark = "life-\(UUID().uuidString.prefix(8))"
    }

    override func tearDown() async throws {
        for p in started where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in started { p.waitUntilExit() }
        // Nothing a test started may outlive it: shipgate, its reaper helper, the steps.
        let deadline = Date().addingTimeInterval(10)
        var left = ReliabilityTests.marked(mark)
        while !left.isEmpty && Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
            left = ReliabilityTests.marked(mark)
        }
        for pid in left { kill(pid, SIGKILL) }
        XCTAssertEqual(left, [], "processes outlived the test")
        try? FileManager.default.removeItem(atPath: dir)
    }

    func write(_ yaml: String) throws {
        try yaml.write(toFile: dir + "/shipgate.yml", atomically: true, encoding: .utf8)
    }

    /// Starts `shipgate ARGS` in the background; its processes carry this test's mark.
    func start(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        var env = ProcessInfo.processInfo.environment
        for key in ["GITHUB_ACTIONS", "SHIPGATE_STATE_DIR", "CI"] { env[key] = nil }
        env["DRILL_MARK"] = mark
        env["NO_COLOR"] = "1"
        for (k, v) in extra { env[k] = v }
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        started.append(p)
        return p
    }

    /// Polls `condition` until it holds or `seconds` pass; returns whether it held.
    /// `seconds` is only an upper bound for a loaded machine: it returns as soon as `condition` holds.
    func poll(_ seconds: Double = 60, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: dir + "/" + name) }

    /// The text of `<job>.log` of the only run in the state directory ("" when absent).
    func log(_ job: String) -> String {
        let runs = dir + "/.shipgate/runs"
        guard let run = (try? FileManager.default.contentsOfDirectory(atPath: runs))?.first else { return "" }
        return (try? String(contentsOfFile: "\(runs)/\(run)/\(job).log", encoding: .utf8)) ?? ""
    }

    func exitStatus(_ p: Process) async -> Int32? {
        guard await poll(60, { !p.isRunning }) else { return nil }
        return p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
    }
}

// MARK: - Streamed logs

extension StepLifecycleTests {
    func testTheLogIsWrittenWhileTheJobRunsAndSurvivesKill9() async throws {
        try write(
            """
            name: stream
            secrets: [TOKEN]
            jobs:
              talk:
                steps:
                  - run: 'echo "first line $TOKEN"; touch spoke-1; while [ ! -e go ]; do sleep 0.05; done; echo "second line"; touch spoke-2; sleep 300'

            """)
        let shipgate = try start(["run", "--output", "plain"], environment: ["TOKEN": "s3cr3t-value"])
        let spoke1 = await poll { exists("spoke-1") }
        XCTAssertTrue(spoke1)
        let first = Date()
        let streamed = await poll { log("talk").contains("first line ***") }
        let latency = Date().timeIntervalSince(first)
        XCTAssertTrue(streamed, "the line is in the log while the job runs: \(log("talk"))")
        XCTAssertLessThan(latency, 3, "flushed within about a second (took \(latency) s)")
        XCTAssertTrue(shipgate.isRunning)
        XCTAssertFalse(log("talk").contains("s3cr3t-value"), "masked")

        FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        let spoke2 = await poll { exists("spoke-2") }
        XCTAssertTrue(spoke2)
        let secondStreamed = await poll { log("talk").contains("second line") }
        XCTAssertTrue(secondStreamed)
        kill(shipgate.processIdentifier, SIGKILL)
        shipgate.waitUntilExit()
        let text = log("talk")
        XCTAssertTrue(text.contains("-- step 1/1:"), text)
        XCTAssertTrue(text.contains("first line ***") && text.contains("second line"), "the log survives kill -9: \(text)")
    }
}

// MARK: - The grace period

extension StepLifecycleTests {
    /// A step whose program needs 1.5 s to clean up on SIGTERM, behind a shell that dies at once.
    static let slowCleanup = """
        name: grace
        jobs:
          migrate:
            timeout: TIMEOUT
            steps:
              - run: |
                  sh -c 'trap "echo cleaning up; sleep 1.5; echo done > cleaned; echo cleaned up; exit 0" TERM; touch ready; while :; do sleep 0.1; done'
                  echo never reached

        """

    func testATimedOutStepFinishesItsCleanupInTheGracePeriod() async throws {
        try write(Self.slowCleanup.replacingOccurrences(of: "TIMEOUT", with: "1s"))
        let began = Date()
        let out = try await CLI.run(["run", "--output", "plain", "--kill-grace", "20"], in: dir, environment: ["DRILL_MARK": mark])
        let took = Date().timeIntervalSince(began)
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        XCTAssertTrue(exists("cleaned"), "the SIGTERM handler ran to its end")
        XCTAssertTrue(out.stdout.contains("job timed out after 1s"), out.stdout)
        XCTAssertTrue(log("migrate").contains("cleaned up"), "output printed during the grace period is kept: \(log("migrate"))")
        XCTAssertFalse(log("migrate").contains("never reached"))
        XCTAssertLessThan(took, 15, "the step ends once its group is empty, not at the end of the 20 s grace")
    }

    func testCtrlCAndSIGTERMLeaveTheGracePeriodToTheStep() async throws {
        for signal in [SIGINT, SIGTERM] {
            try? FileManager.default.removeItem(atPath: dir + "/ready")
            try? FileManager.default.removeItem(atPath: dir + "/cleaned")
            try write(Self.slowCleanup.replacingOccurrences(of: "TIMEOUT", with: "10m"))
            let shipgate = try start(["run", "--output", "plain"])
            let ready = await poll { exists("ready") }
            XCTAssertTrue(ready)
            kill(shipgate.processIdentifier, signal)
            let status = await exitStatus(shipgate)
            XCTAssertEqual(status, 130, "signal \(signal)")
            XCTAssertTrue(exists("cleaned"), "the step's cleanup finished after signal \(signal)")
            try? FileManager.default.removeItem(atPath: dir + "/.shipgate")
        }
    }
}

// MARK: - Idle timeout and editors

extension StepLifecycleTests {
    func testASilentStepEndsAtTheIdleTimeoutAndOutputResetsIt() async throws {
        try write(
            """
            name: idle
            defaults: { idle-timeout: 2s }
            jobs:
              chatty:
                steps:
                  - run: 'i=0; while [ $i -lt 25 ]; do printf .; i=$((i+1)); sleep 0.1; done; echo'
              stuck:
                timeout: 10m
                steps:
                  - name: prompt
                    run: 'echo "Continue? [y/N]"; sleep 300'

            """)
        let began = Date()
        let out = try await CLI.run(["run", "--output", "plain"], in: dir, environment: ["DRILL_MARK": mark])
        let took = Date().timeIntervalSince(began)
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("step `prompt` printed nothing for 2s (idle-timeout)"), out.stdout)
        XCTAssertTrue(log("stuck").contains("-- step 1 finished: idle timeout in"), log("stuck"))
        XCTAssertTrue(log("chatty").contains("== chatty: success"), "2.5 s of dots on one line, never 2 s of silence: \(log("chatty"))")
        XCTAssertLessThan(took, 60, "ended long before the 10m timeout")
    }

    func testIdleTimeoutIsValidatedWithItsLocation() async throws {
        try write(
            """
            name: idle
            defaults:
              idle-timeout: 0
            jobs:
              a:
                idle-timeout: 5 minutes
                steps: [{ run: 'true' }]

            """)
        let out = try await CLI.run(["validate"], in: dir)
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.contains("shipgate.yml:3:17: error: `defaults.idle-timeout` must be longer than 0"), out.stderr)
        XCTAssertTrue(out.stderr.contains("shipgate.yml:6:19: error: invalid duration `5 minutes` for `idle-timeout`"), out.stderr)
    }

    func testAnEditorPromptFailsAtOnceUnlessThePipelineNamesAnEditor() async throws {
        _ = try await CLI.shell("git init -q . && git config user.email t@example.com && git config user.name T", in: dir)
        try write(
            """
            name: editors
            jobs:
              prompt:
                steps: [{ run: 'git commit --allow-empty' }]
              scripted:
                env: { GIT_EDITOR: "echo scripted message >" }
                steps: [{ run: 'git commit -q --allow-empty && git log -1 --format=%s' }]
              seen:
                steps: [{ run: 'echo "editor=$EDITOR visual=$VISUAL"' }]
              plain-editor:
                env: { EDITOR: "echo from EDITOR >" }
                steps: [{ run: 'git commit -q --allow-empty && git log -1 --format=%s' }]

            """)
        let began = Date()
        // A developer's machine: an interactive editor in the environment shipgate starts with.
        let out = try await CLI.run(
            ["run", "--output", "plain", "--job", "prompt", "--job", "seen"], in: dir,
            environment: ["DRILL_MARK": mark, "GIT_EDITOR": "vi", "EDITOR": "vi", "VISUAL": "vi"])
        XCTAssertLessThan(Date().timeIntervalSince(began), 30, "no editor waited for input")
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("There was a problem with the editor 'false'"), out.stdout)
        XCTAssertTrue(out.stdout.contains("editor=false visual=false"), out.stdout)

        try? FileManager.default.removeItem(atPath: dir + "/.shipgate")
        let scripted = try await CLI.run(
            ["run", "--output", "plain", "--job", "scripted", "--job", "plain-editor", "--jobs", "1"], in: dir,
            environment: ["GIT_EDITOR": "vi", "VISUAL": "vi"])
        XCTAssertTrue(scripted.stdout.contains("[scripted] scripted message"), scripted.stdout + scripted.stderr)
        XCTAssertTrue(scripted.stdout.contains("[plain-editor] from EDITOR"), "EDITOR in env wins over the OS's VISUAL: \(scripted.stdout)")
    }
}

// MARK: - Exit codes 127 and 126

extension StepLifecycleTests {
    func testCommandNotFoundAndNotExecutableAreSaidAsSuch() async throws {
        try "#!/bin/sh\necho deployed\n".write(toFile: dir + "/deploy.sh", atomically: true, encoding: .utf8)
        try write(
            """
            name: exits
            jobs:
              lint: { steps: [{ run: 'echo checking; black --check .' }] }
              bash-lint: { shell: bash, steps: [{ run: 'black --check .' }] }
              deploy: { steps: [{ run: './deploy.sh' }] }
              own-127: { steps: [{ run: 'exit 127' }] }

            """)
        let out = try await CLI.run(["run", "--output", "plain"], in: dir)
        XCTAssertEqual(out.status, 1)
        XCTAssertTrue(out.stdout.contains("[lint] ✗ failed in"), out.stdout)
        XCTAssertTrue(out.stdout.contains("step `echo checking; black --check .` exited with code 127: command not found: black"), out.stdout)
        XCTAssertTrue(out.stdout.contains("step `black --check .` exited with code 127: command not found: black"), out.stdout)
        XCTAssertTrue(out.stdout.contains("step `./deploy.sh` exited with code 126: not executable: ./deploy.sh (Permission denied)"), out.stdout)
        XCTAssertTrue(out.stdout.contains("step `exit 127` exited with code 127\n"), "no guess without the shell's word: \(out.stdout)")
    }
}

// MARK: - --output errors-only

extension StepLifecycleTests {
    func testErrorsOnlyPrintsTheLogsOfFailingJobsAndTheSummary() async throws {
        try write(
            """
            name: quiet
            secrets: [TOKEN]
            jobs:
              build: { steps: [{ run: 'echo compiling quietly' }] }
              test:
                retry: { attempts: 2, backoff: 0 }
                steps:
                  - run: 'echo "using $TOKEN"'
                  - run: 'echo "boom in attempt $SHIPGATE_ATTEMPT"; exit 3'
              lint: { continue-on-error: true, steps: [{ run: 'echo "style problem"; exit 1' }] }

            """)
        let out = try await CLI.run(["run", "--output", "errors-only"], in: dir, environment: ["TOKEN": "s3cr3t-value"])
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        XCTAssertFalse(out.stdout.contains("compiling quietly"), "a successful job's output is not shown:\n\(out.stdout)")
        XCTAssertFalse(out.stdout.contains("s3cr3t-value"))
        let lines = out.stdout.split(separator: "\n").map(String.init)
        for expected in [
            "[test] ✗ failed", "[test] == test: attempt 1 of 2 ==", "[test] using ***", "[test] boom in attempt 1", "[test] boom in attempt 2",
            "[lint] style problem",
        ] {
            XCTAssertTrue(lines.contains { $0.hasPrefix(expected) }, "missing `\(expected)` in:\n\(out.stdout)")
        }
        XCTAssertTrue(out.stdout.contains("JOB    STATUS"), "the summary comes last:\n\(out.stdout)")
        XCTAssertTrue(out.stdout.contains("build  ✓ success"), out.stdout)
        XCTAssertFalse(out.stdout.contains("▶ started"))

        try write("name: fine\njobs:\n  a: { steps: [{ run: 'echo all good' }] }\n")
        let fine = try await CLI.run(["run", "--output", "errors-only"], in: dir)
        XCTAssertEqual(fine.status, 0)
        XCTAssertTrue(fine.stdout.hasPrefix("\nJOB  STATUS"), "only the summary when nothing failed:\n\(fine.stdout)")
    }
}

// MARK: - detach

extension StepLifecycleTests {
    func pid(_ name: String) -> Int32? {
        (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Alive and not a zombie.
    func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    func testADetachStepKeepsWhatItStartedAndOthersDoNot() async throws {
        try write(
            """
            name: detach
            jobs:
              deploy:
                steps:
                  - name: start the server
                    detach: true
                    run: |
                      setsid sh -c 'echo $$ > daemon.pid; exec sleep 300' < /dev/null > /dev/null 2>&1 &
                      nohup sleep 301 < /dev/null > /dev/null 2>&1 &
                      echo $! > nohup.pid
                      while [ ! -s daemon.pid ]; do sleep 0.01; done
                  - run: 'kill -0 "$(cat daemon.pid)" && kill -0 "$(cat nohup.pid)" && echo "kept for the next step"'
              scratch:
                steps:
                  - run: |
                      setsid sh -c 'echo $$ > other.pid; exec sleep 302' < /dev/null > /dev/null 2>&1 &
                      sleep 303 &
                      echo $! > background.pid
                      while [ ! -s other.pid ]; do sleep 0.01; done

            """)
        let out = try await CLI.run(["run", "--output", "plain"], in: dir, environment: ["DRILL_MARK": mark])
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("kept for the next step"), out.stdout)
        let daemon = try XCTUnwrap(pid("daemon.pid"))
        let nohup = try XCTUnwrap(pid("nohup.pid"))
        let other = try XCTUnwrap(pid("other.pid"))
        let background = try XCTUnwrap(pid("background.pid"))
        defer { for p in [daemon, nohup, other, background] { kill(p, SIGKILL) } }
        let othersGone = await poll { !alive(other) && !alive(background) }
        XCTAssertTrue(othersGone, "without detach, the daemon and the background process end with the run")
        XCTAssertTrue(alive(daemon), "the detach step's daemon outlived the run")
        XCTAssertTrue(alive(nohup), "the detach step's background process outlived the run")

        let plan = try await CLI.run(["plan"], in: dir)
        XCTAssertTrue(plan.stdout.contains("start the server (detach)"), plan.stdout)
    }
}
