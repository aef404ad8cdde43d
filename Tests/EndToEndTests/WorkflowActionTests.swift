import Foundation
import XCTest

/// Actions of other repositories and service containers through the binary: the actions in
/// `Fixtures/remote-actions/<owner>/<repo>/` are served as bare repositories from a temporary
/// directory (`--actions-url file://…`), fetched through libgit2 into a temporary action
/// cache, and run with the machine's `node`; nothing needs the internet.
final class WorkflowActionTests: XCTestCase {
    struct Setup {
        let root: String
        let repo: String
        var environment: [String: String]
        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    /// Each fixture action as `<root>/actions/<owner>/<repo>.git` tagged `v1` (and branch
    /// `main`), and the `remote` workflow fixture as a committed repository.
    func setup(_ fixture: String = "remote") async throws -> Setup {
        let root = NSTemporaryDirectory() + "wf-actions-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let script = """
            set -e
            for dir in "$SRC"/*/*; do
              owner=$(basename "$(dirname "$dir")"); name=$(basename "$dir")
              work="$ROOT/work-$owner-$name"; cp -a "$dir" "$work"
              (cd "$work" && git init -q -b main && git add -A && git -c user.name=T -c user.email=t@example.com commit -qm v1 && git tag v1)
              mkdir -p "$ROOT/actions/$owner"; git clone -q --bare "$work" "$ROOT/actions/$owner/$name.git"; rm -rf "$work"
            done
            """
        _ = try await CLI.shell("SRC='\(CLI.fixtures.appendingPathComponent("remote-actions").path)' ROOT='\(root)' sh -c '\(script)'", in: root)
        let repo = root + "/repo"
        try FileManager.default.copyItem(atPath: CLI.fixtures.appendingPathComponent("workflows/\(fixture)").path, toPath: repo)
        _ = try await CLI.shell(
            "git init -q -b main && printf '.shipgate\\n' > .gitignore && git add -A && git -c user.name=T -c user.email=t@example.com commit -qm init",
            in: repo)
        return Setup(
            root: root, repo: repo,
            environment: [
                "SHIPGATE_ACTIONS_URL": "file://\(root)/actions", "SHIPGATE_ACTIONS_CACHE": root + "/cache", "SUPER_SECRET": "s3cr3t-value",
            ])
    }

    func run(_ s: Setup, _ file: String, _ extra: [String] = [], environment: [String: String] = [:]) async throws -> CLI.Output {
        try await CLI.run(
            ["run", ".github/workflows/\(file)", "--jobs", "1", "--output", "plain"] + extra, in: s.repo,
            environment: s.environment.merging(environment) { _, new in new })
    }

    func record(_ s: Setup) throws -> [String: Any] {
        let runs = s.repo + "/.shipgate/runs"
        let newest = try FileManager.default.contentsOfDirectory(atPath: runs).sorted().last!
        let data = try Data(contentsOf: URL(fileURLWithPath: runs + "/" + newest + "/run.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func jobs(_ s: Setup) throws -> [String: (status: String, reason: String, outputs: [String: String])] {
        var out: [String: (String, String, [String: String])] = [:]
        for job in try record(s)["jobs"] as! [[String: Any]] {
            out[job["id"] as! String] = (job["status"] as! String, job["reason"] as? String ?? "", job["outputs"] as? [String: String] ?? [:])
        }
        return out
    }

    func lines(_ output: String, job: String) -> [String] {
        output.split(separator: "\n").filter { $0.hasPrefix("[\(job)] ") }.map { String($0.dropFirst(job.count + 3)) }
    }

    func testJavaScriptAndCompositeActionsOfOtherRepositories() async throws {
        let s = try await setup()
        defer { s.remove() }
        let out = try await run(s, "ci.yml")
        XCTAssertEqual(out.status, 1, out.stdout + out.stderr)
        let r = try jobs(s)
        XCTAssertEqual(r["js"]?.status, "success", r["js"]?.reason ?? "")
        XCTAssertEqual(r["js"]?.outputs["message"], "hello, world!")
        // pre before the first step, main as step 2 with its inputs and state, post after the last.
        let js = lines(out.stdout, job: "js")
        let order = [
            "pre: node 20 in the workspace", "first step", "main: hello, world! (repository local/repo, action acme/hello-js@v1)",
            "main: state from pre = pre-was-here", "after hello, world! GREETED=world", "post: greeted world, started pre-was-here",
        ]
        var position = -1
        for line in order {
            guard let at = js.firstIndex(of: line) else { return XCTFail("\(line) not in \(js)") }
            XCTAssertGreaterThan(at, position, "\(line) out of order in \(js)")
            position = at
        }
        // A secret the workflow reads reaches an action only if the workflow passes it.
        XCTAssertTrue(js.contains("main: secret in env = absent"), "\(js)")
        XCTAssertFalse(out.stdout.contains("s3cr3t-value"))
        // A composite action of another repository, calling a JavaScript action of a third; its files (an executable, ../VERSION) are there.
        XCTAssertEqual(r["composite"]?.status, "success", r["composite"]?.reason ?? "")
        let composite = lines(out.stdout, job: "composite")
        for line in ["composite: toolkit-1.0 sees hi, composite!", "tool.sh is executable", "composite output hi, composite!"] {
            XCTAssertTrue(composite.contains(line), "\(line) in \(composite)")
        }
        // A failing main still gets its post; the job fails with the exit code.
        XCTAssertEqual(r["failing"]?.status, "failed")
        XCTAssertEqual(r["failing"]?.reason, "step `Run acme/hello-js@v1` exited with code 3")
        XCTAssertTrue(lines(out.stdout, job: "failing").contains("post: greeted failure, started pre-was-here"))
        // Docker actions are refused before anything runs, with the reason.
        XCTAssertEqual(r["docker"]?.status, "skipped")
        XCTAssertTrue(r["docker"]?.reason.contains("acme/in-docker@v1: action.yml is a Docker action") ?? false, r["docker"]?.reason ?? "")
        // Each ref is resolved once and recorded.
        let actions = try record(s)["actions"] as? [String: String] ?? [:]
        let head = try await CLI.shell("git --git-dir='\(s.root)/actions/acme/hello-js.git' rev-parse v1", in: s.root)
        XCTAssertEqual(actions["acme/hello-js@v1"], head)
        XCTAssertEqual(actions["acme/toolkit/greet@v1"]?.count, 40)
        XCTAssertTrue(out.stderr.contains("action acme/hello-js@v1 → \(head.prefix(12)) (not pinned"), out.stderr)
        // Once cached, plan also names the actions a fetched composite action uses (read from the mirror).
        let plan = try await CLI.run(["plan", ".github/workflows/ci.yml", "--job", "composite"], in: s.repo, environment: s.environment)
        XCTAssertTrue(plan.stdout.contains("- acme/toolkit/greet@v1: not pinned"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("- acme/hello-js@v1: not pinned"), plan.stdout)
    }

    func testPlanPinsOfflineAndVerification() async throws {
        let s = try await setup()
        defer { s.remove() }
        // plan names every action the run fetches and executes, without fetching.
        let plan = try await CLI.run(["plan", ".github/workflows/ci.yml"], in: s.repo, environment: s.environment)
        XCTAssertEqual(plan.status, 0, plan.stderr)
        XCTAssertTrue(plan.stdout.contains("Actions fetched and executed (from file://\(s.root)/actions)"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("- acme/hello-js@v1: not pinned"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("not cached: fetched when the run starts"), plan.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.root + "/cache"), "plan fetched something")
        // Offline with an empty cache: the job fails as it sets up, naming the action.
        let offline = try await run(s, "ci.yml", ["--offline", "--job", "js"])
        XCTAssertEqual(offline.status, 1, offline.stdout + offline.stderr)
        let offlineReason = try jobs(s)["js"]?.reason ?? ""
        XCTAssertTrue(offlineReason.contains("`acme/hello-js@v1` is not in the action cache, and --offline forbids fetching it"), offlineReason)
        // Fetched once, it runs offline.
        let online = try await run(s, "ci.yml", ["--job", "js"])
        XCTAssertEqual(online.status, 0, online.stdout + online.stderr)
        let again = try await run(s, "ci.yml", ["--offline", "--job", "js"])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        let cachedPlan = try await CLI.run(["plan", ".github/workflows/ci.yml", "--json"], in: s.repo, environment: s.environment)
        XCTAssertTrue(cachedPlan.stdout.contains("\"uses\":\"acme/hello-js@v1\",\"pinned\":false,\"cachedCommit\":\""), cachedPlan.stdout)
        // --require-pinned refuses every job with an action named by a tag or branch.
        let pinned = try await CLI.run(["plan", ".github/workflows/ci.yml", "--require-pinned"], in: s.repo, environment: s.environment)
        XCTAssertEqual(pinned.status, 0, pinned.stderr)
        for job in ["js", "composite", "failing", "docker"] {
            XCTAssertTrue(
                pinned.stdout.contains("\(job): refused: .github/workflows/ci.yml:"), "\(job) in \(pinned.stdout)")
        }
        XCTAssertTrue(
            pinned.stdout.contains("is not pinned to a commit SHA (--require-pinned): pin it as `uses: acme/hello-js@<40-hex commit> # v1`"), pinned.stdout)
        // A SHA the repository does not have fails; the action repository is never asked for another.
        let unknown = try await run(s, "pinned.yml")
        XCTAssertEqual(unknown.status, 1, unknown.stdout + unknown.stderr)
        let unknownReason = try jobs(s)["unknown-sha"]?.reason ?? ""
        XCTAssertTrue(unknownReason.contains("has no commit 0123456789abcdef0123456789abcdef01234567"), unknownReason)
        // A step that changes the fetched copy: the next use of the action is refused.
        let tampered = try await run(s, "tamper.yml")
        XCTAssertEqual(tampered.status, 1, tampered.stdout + tampered.stderr)
        let tamperReason = try jobs(s)["tamper"]?.reason ?? ""
        XCTAssertTrue(tamperReason.contains("its fetched copy changed during the run (dist/main.js)"), tamperReason)
        XCTAssertFalse(tampered.stdout.contains("\"changed\""))
    }

    func testTheCacheServiceSpeaksTheToolkitsProtocol() async throws {
        let s = try await setup()
        defer { s.remove() }
        let first = try await run(s, "cache.yml")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let saw = lines(first.stdout, job: "cache")
        for line in [
            "lookup before save: 204", "reserve: 201 id non-zero", "chunks: 204,204,204", "commit: 204", "second reserve: 409", "exact: 200 same key",
            "prefix: 200 found", "other version: 204", "miss: 204", "wrong token: 401",
        ] {
            XCTAssertTrue(saw.contains(line), "\(line) in \(saw)")
        }
        let download = saw.first { $0.hasPrefix("download: 200 300000 bytes sha256 ") }
        XCTAssertNotNil(download, "\(saw)")
        // The next run finds the entry in shipgate's cache: the same archive.
        let second = try await run(s, "cache.yml")
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        let again = lines(second.stdout, job: "cache")
        XCTAssertTrue(again.contains("lookup before save: 200"), "\(again)")
        XCTAssertTrue(again.contains("reserve: exists"), "\(again)")
        XCTAssertTrue(again.contains(download ?? "-"), "\(again)")
    }

    func testServicesStartAsLocalProcessesAndStopWithTheJob() async throws {
        let required = ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_SERVICES"] == "1"
        let missing =
            ["redis-server", "memcached"].filter { name in
                !(ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
                    FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
                }
            } + (FileManager.default.fileExists(atPath: "/usr/lib/postgresql") ? [] : ["postgresql"])
        if !missing.isEmpty {
            if required { return XCTFail("SHIPGATE_REQUIRE_SERVICES=1 and \(missing.joined(separator: ", ")) missing") }
            throw XCTSkip("needs \(missing.joined(separator: ", ")) (scripts/setup.sh installs them)")
        }
        let s = try await setup("services")
        defer { s.remove() }
        let list = "ls -d /tmp/shipgate-service-* ${TMPDIR:-/tmp}/shipgate-service-* 2>/dev/null | sort -u || true"
        let before = Set(try await CLI.shell(list, in: s.root).split(separator: "\n"))
        let out = try await run(s, "ci.yml")
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        let test = lines(out.stdout, job: "test")
        for line in ["app|app_test", "database url port ok", "+OK", "v", "VERSION", "shop@%\tshop", "2", "services null pid-set=true"] {
            XCTAssertTrue(test.contains(line), "\(line) in \(test)")
        }
        let r = try jobs(s)
        XCTAssertEqual(r["unknown"]?.status, "skipped")
        XCTAssertTrue(r["unknown"]?.reason.contains("service `search` uses the image `elasticsearch:8.13.0`, which has no local equivalent") ?? false)
        // Nothing of the services is left: no process, no data directory.
        let ports = test.compactMap { line -> String? in
            guard line.hasPrefix("service "), let on = line.range(of: " on 127.0.0.1:") else { return nil }
            return String(line[on.upperBound...])
        }
        XCTAssertEqual(ports.count, 4, "\(test)")
        XCTAssertFalse(out.stdout.contains("root-pw"), "the root password is masked")
        for port in ports {
            let open = try await CLI.shell("bash -c '(exec 3<>/dev/tcp/127.0.0.1/\(port)) 2>/dev/null && echo open || echo closed'", in: s.root)
            XCTAssertEqual(open, "closed", "port \(port)")
        }
        let after = Set(try await CLI.shell(list, in: s.root).split(separator: "\n"))
        XCTAssertTrue(after.isSubset(of: before), "service data directories left behind: \(after.subtracting(before))")
    }

    /// `kill -9` of shipgate while a job holds a service: the service dies with it (its process
    /// group is the orphan reaper's to kill), and the next start removes its data directory.
    func testAServiceDiesWithAShipgateKilledWithNine() async throws {
        guard
            ["redis-server"].allSatisfy({ name in
                (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
                    FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
                }
            })
        else {
            if ProcessInfo.processInfo.environment["SHIPGATE_REQUIRE_SERVICES"] == "1" { return XCTFail("redis-server missing") }
            throw XCTSkip("needs redis-server")
        }
        let s = try await setup("services")
        defer { s.remove() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["run", ".github/workflows/held.yml", "--output", "plain"]
        p.currentDirectoryURL = URL(fileURLWithPath: s.repo)
        var env = ProcessInfo.processInfo.environment
        for key in ["GITHUB_ACTIONS", "SHIPGATE_STATE_DIR", "CI"] { env[key] = nil }
        p.environment = env.merging(s.environment) { _, new in new }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        func poll(_ condition: () async -> Bool) async -> Bool {
            let deadline = Date().addingTimeInterval(60)  // an upper bound for a loaded machine
            while Date() < deadline {
                if await condition() { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return await condition()
        }
        let portFile = s.repo + "/port"
        let ready = await poll { FileManager.default.fileExists(atPath: portFile) }
        XCTAssertTrue(ready, "the job never started")
        let port = try String(contentsOfFile: portFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        func isOpen() async -> Bool {
            ((try? await CLI.shell("bash -c '(exec 3<>/dev/tcp/127.0.0.1/\(port)) 2>/dev/null && echo open || echo closed'", in: s.root)) ?? "") == "open"
        }
        let open = await isOpen()
        XCTAssertTrue(open, "the service answers while the job runs")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let closed = await poll { !(await isOpen()) }
        XCTAssertTrue(closed, "redis on \(port) outlived shipgate")
        // The looping step died too (its group is the reaper's as well).
        let step = Int32(try String(contentsOfFile: s.repo + "/step.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertGreaterThan(step, 0)
        let stepGone = await poll { kill(step, 0) != 0 }
        XCTAssertTrue(stepGone, "the step outlived shipgate")
    }
}
