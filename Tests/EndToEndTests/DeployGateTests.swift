import Foundation
import XCTest

/// The deploy gate end to end: the built binary in scratch git repositories, real processes,
/// real SQLite, signed approvals. `SHIPGATE_TEST_NOW` is the injectable clock (debug builds).
final class DeployGateTests: XCTestCase {
    static let pipeline = """
        name: gated
        environments:
          staging:
            concurrency: 1
          prod:
            branches: [main, "feature/*"]
            requires: [unit]
            approvals: { required: 2, from: [alice, bob, carol, tester], expire: 24h }
            concurrency: 1
            secrets: [PROD_TOKEN]
        jobs:
          unit:
            steps: [{ run: echo unit ok }]
          leak:
            steps: [{ run: 'echo "leak=${PROD_TOKEN:-unset}"' }]
          build:
            steps: [{ run: 'mkdir -p dist && { cat release.txt; date +%s%N; } > dist/app.txt' }]
            artifacts: { paths: ["dist/**"] }
          deploy-staging:
            needs: [build]
            environment: staging
            steps: [{ run: 'mkdir -p live && cp "$SHIPGATE_ARTIFACTS/dist/app.txt" live/staging.txt' }]
            verify: [{ run: '! grep -q BROKEN live/staging.txt' }]
            rollback: [{ run: 'test -z "${FAIL_ROLLBACK:-}" && cp "$SHIPGATE_ROLLBACK_ARTIFACTS/dist/app.txt" "${LIVE_ROOT:-.}/live/staging.txt"' }]
          deploy-prod:
            needs: [unit, build]
            environment: prod
            steps: [{ run: 'echo "token=$PROD_TOKEN"; mkdir -p live && cp "$SHIPGATE_ARTIFACTS/dist/app.txt" live/prod.txt' }]

        """

    let token = ["PROD_TOKEN": "s3cr3t-prod-token"]

    func testBlockedUntilTwoApprovalsThenResumeDeploysWithTheSameArtifacts() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        // As a GitHub Actions step: the blocked gate is a notice, the summary lists the gate's verdicts.
        var github = token
        github["GITHUB_ACTIONS"] = "true"
        github["GITHUB_STEP_SUMMARY"] = repo.path + "/summary.md"
        github["GITHUB_OUTPUT"] = repo.path + "/output.txt"
        let first = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--job", "leak"], env: github)
        XCTAssertEqual(first.status, 3, first.stdout + first.stderr)
        let run = try XCTUnwrap(GateRepo.runID(first.stdout))
        XCTAssertTrue(first.stdout.contains("✗ approvals: 0 of 2 approvals"), first.stdout)
        XCTAssertTrue(first.stdout.contains("shipgate approve \(run) --env prod --key KEYFILE"), first.stdout)
        XCTAssertTrue(first.stdout.contains("Run \(run) blocked by a gate"), first.stdout)
        XCTAssertTrue(first.stdout.contains("leak=unset"), "environment secrets are withheld from other jobs:\n\(first.stdout)")
        XCTAssertTrue(first.stdout.hasPrefix("::add-mask::s3cr3t-prod-token\n"), "environment secrets are masked by the runner too")
        XCTAssertEqual(first.stdout.components(separatedBy: "s3cr3t").count, 2, "the secret appears only in ::add-mask::")
        XCTAssertTrue(first.stdout.contains("::notice title=deploy-prod blocked by a gate::gate of prod blocked:"), first.stdout)
        let summary = repo.read("summary.md")
        XCTAssertTrue(summary.contains("- **prod** (`deploy-prod`): ⛔ blocked"), summary)
        XCTAssertTrue(summary.contains("  - ✗ approvals: 0 of 2 approvals"), summary)
        XCTAssertTrue(summary.contains("`shipgate approve \(run) --env prod --key KEYFILE`"), summary)
        XCTAssertTrue(repo.read("output.txt").contains("blocked=true"), repo.read("output.txt"))
        let built = repo.read("dist/app.txt")

        // The actor cannot approve their own deploy.
        let own = try await repo.shipgate(["approve", run, "--env", "prod", "--key", repo.key("tester")])
        XCTAssertEqual(own.status, 2)
        XCTAssertTrue(own.stderr.contains("self-approval"), own.stderr)

        let alice = try await repo.shipgate(["approve", run, "--env", "prod", "--key", repo.key("alice"), "--comment", "looks good"])
        XCTAssertEqual(alice.status, 0, alice.stderr)
        let pending = try await repo.shipgate(["approvals", "--pending"])
        XCTAssertTrue(pending.stdout.contains("approved by alice"), pending.stdout)

        let second = try await repo.shipgate(["resume", run, "--output", "json"], env: token)
        XCTAssertEqual(second.status, 3, second.stdout + second.stderr)
        XCTAssertTrue(second.stdout.contains(#""status":"blocked""#), second.stdout)
        XCTAssertTrue(second.stdout.contains("1 of 2 approvals (alice)"), second.stdout)

        try await repo.ok(["approve", run, "--env", "prod", "--key", repo.key("bob")])
        let third = try await repo.shipgate(["resume", run, "--output", "plain"], env: token)
        XCTAssertEqual(third.status, 0, third.stdout + third.stderr)
        XCTAssertTrue(third.stdout.contains("gate of prod passed (approved by alice, bob)"), third.stdout)
        XCTAssertTrue(third.stdout.contains("token=***"), "the environment's secret reaches its deploy, masked:\n\(third.stdout)")
        XCTAssertFalse(third.stdout.contains("s3cr3t"))
        XCTAssertEqual(repo.read("live/prod.txt"), built, "resume deploys the artifacts that were approved, not a rebuild")

        let history = try await repo.history("prod")
        XCTAssertEqual(history.count, 1)
        XCTAssertEqual(history.first?["status"] as? String, "success")
        XCTAssertEqual(history.first?["approvedBy"] as? [String], ["alice", "bob"])
        let status = try await repo.shipgate(["status", run])
        XCTAssertTrue(status.stdout.contains("success"), status.stdout)
        let audit = try await repo.shipgate(["audit", "--env", "prod"])
        for kind in ["gate by tester", "approve by alice", "approve by bob", "deploy-started", "deploy by tester"] {
            XCTAssertTrue(audit.stdout.contains(kind), "audit lacks \(kind):\n\(audit.stdout)")
        }
        try await repo.ok(["audit", "verify"])
    }

    func testWaitKeepsEvaluatingTheGateUntilApprovalsArrive() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        let path = repo.path
        let env = token
        async let waiting = CLI.run(
            ["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain", "--wait", "60s", "--poll-interval", "100ms"], in: path,
            environment: env)
        // The gate is recorded as blocked while the run waits.
        var run: String?
        for _ in 0..<200 where run == nil {
            try await Task.sleep(for: .milliseconds(100))
            let pending = try await repo.shipgate(["approvals", "--pending", "--json"])
            if let list = try? JSONSerialization.jsonObject(with: Data(pending.stdout.utf8)) as? [[String: Any]] { run = list.first?["run"] as? String }
        }
        let id = try XCTUnwrap(run, "no gate was recorded while waiting")
        try await repo.ok(["approve", id, "--env", "prod", "--key", repo.key("carol")])
        try await repo.ok(["approve", id, "--env", "prod", "--key", repo.key("bob")])
        let out = try await waiting
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("waiting up to 1m for it to pass"), out.stdout)
        XCTAssertTrue(out.stdout.contains("gate of prod passed (approved by "), out.stdout)
    }

    func testRefusedApprovalsAreListedWithTheirReasons() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        let first = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain"], env: token)
        let run = try XCTUnwrap(GateRepo.runID(first.stdout))
        let approve = try await repo.shipgate(["approve", run, "--env", "prod", "--key", repo.key("alice"), "--out", "alice.json"])
        XCTAssertEqual(approve.status, 0, approve.stderr)
        // Tampered: the commit edited after signing.
        let signed = repo.read("alice.json")
        let commit = try await repo.sh("git rev-parse HEAD")
        try repo.write(signed.replacingOccurrences(of: commit, with: String(repeating: "0", count: 40)), to: "tampered.json")

        // A new run rebuilds: the approval of the first run's artifacts does not carry over.
        let rebuilt = try await repo.shipgate(
            ["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain", "--approval", "tampered.json"], env: token)
        XCTAssertEqual(rebuilt.status, 3)
        XCTAssertTrue(rebuilt.stdout.contains("approve by alice not counted: artifacts changed since approval (build)"), rebuilt.stdout)
        XCTAssertTrue(rebuilt.stdout.contains("unverified statement claiming alice (approve) not counted: bad signature"), rebuilt.stdout)

        // Another commit: the approval names the old one.
        try repo.write("good 2\n", to: "release.txt")
        try await repo.commitAll("second")
        let moved = try await repo.shipgate(
            ["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain", "--approval", "alice.json"], env: token)
        XCTAssertEqual(moved.status, 3)
        XCTAssertTrue(moved.stdout.contains("approve by alice not counted: for a different commit"), moved.stdout)
    }

    func testKeyringAndPolicyChangesOnABranchDoNotCountUntilMerged() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        try await repo.sh("git checkout -q -b feature/weaken")
        let line = try await repo.keygen("mallory")
        try repo.write(repo.read("pipelines/approvers.yml") + line, to: "pipelines/approvers.yml")
        try repo.write(
            repo.read("pipelines/deploy.yml").replacingOccurrences(of: "required: 2, from: [alice, bob, carol, tester]", with: "required: 1, from: [mallory]"),
            to: "pipelines/deploy.yml")
        try await repo.commitAll("weaken the gate")
        // A tag called `main` on the weakened commit does not become the trusted ref.
        try await repo.sh("git tag main")
        let out = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain"], env: token)
        XCTAssertEqual(out.status, 3)
        let run = try XCTUnwrap(GateRepo.runID(out.stdout))
        XCTAssertTrue(out.stdout.contains("0 of 2 approvals"), "the trusted policy (main) is enforced:\n\(out.stdout)")
        XCTAssertTrue(out.stdout.contains("the rules of environment `prod` in the working tree differ from main@"), out.stdout)
        XCTAssertTrue(out.stdout.contains("the keyring pipelines/approvers.yml in the working tree differs from main@"), out.stdout)
        let mallory = try await repo.shipgate(["approve", run, "--env", "prod", "--key", repo.key("mallory")])
        XCTAssertEqual(mallory.status, 2)
        XCTAssertTrue(mallory.stderr.contains("not in the trusted keyring"), mallory.stderr)

        // The branch rule: `other` is neither main nor feature/*.
        try await repo.sh("git checkout -q -b other")
        let other = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain"], env: token)
        XCTAssertEqual(other.status, 3)
        XCTAssertTrue(other.stdout.contains("✗ branch: branch other (tags main) is not branch main or branch feature/*"), other.stdout)
    }

    func testABranchThatDropsItsEnvironmentsStillCannotReadTheirSecrets() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        try await repo.sh("git checkout -q -b feature/steal")
        try repo.write(
            """
            name: gated
            jobs:
              leak:
                steps: [{ run: 'echo "leak=${PROD_TOKEN:-unset} state=${SHIPGATE_STATE_URL:-unset}"' }]

            """, to: "pipelines/deploy.yml")
        try await repo.commitAll("no environments here")
        let out = try await repo.shipgate(
            ["run", "pipelines/deploy.yml", "--output", "plain"], env: ["PROD_TOKEN": "s3cr3t", "SHIPGATE_STATE_URL": "sqlite:" + repo.path + "/x.db"])
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
        XCTAssertTrue(out.stdout.contains("leak=unset state=unset"), "the trusted policy on main still names PROD_TOKEN:\n\(out.stdout)")
    }

    func testWindowFreezeAndBreakGlassInANamedTimeZone() async throws {
        let repo = try await GateRepo(
            pipeline: """
                name: windowed
                environments:
                  prod:
                    approvals: { required: 1, from: [alice, bob] }
                    window: { days: [mon, tue, wed, thu], hours: "09:00-16:00", timezone: Europe/Berlin }
                    freeze: [{ from: 2026-12-20, to: 2027-01-04, reason: year-end freeze }]
                jobs:
                  docs:
                    when: { branches: ["release/*"] }
                    steps: [{ run: echo building docs }]
                  deploy:
                    environment: prod
                    steps: [{ run: echo deployed }]

                """)
        // Thursday 15:30 UTC is 16:30 in Berlin: outside the window.
        let late = ["SHIPGATE_TEST_NOW": "2026-11-26T15:30:00Z"]
        let plan = try await repo.shipgate(["plan", "pipelines/deploy.yml"], env: late)
        XCTAssertTrue(plan.stdout.contains("gate prod: would block now"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("now Thu 2026-11-26 16:30 Europe/Berlin"), plan.stdout)
        let planJSON = try await repo.shipgate(["plan", "pipelines/deploy.yml", "--json"], env: late)
        XCTAssertTrue(planJSON.stdout.contains(#""status":"blocked""#), planJSON.stdout)

        let blocked = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain"], env: late)
        XCTAssertEqual(blocked.status, 3)
        let run = try XCTUnwrap(GateRepo.runID(blocked.stdout))
        XCTAssertTrue(blocked.stdout.contains("outside the change window"), blocked.stdout)
        // 08:30 UTC is 09:30 in Berlin: inside; with one approval the deploy goes.
        let morning = ["SHIPGATE_TEST_NOW": "2026-11-26T08:30:00Z"]
        try await repo.ok(["approve", run, "--env", "prod", "--key", repo.key("alice")], env: morning)
        let resumed = try await repo.shipgate(["resume", run, "--output", "plain"], env: morning)
        XCTAssertEqual(resumed.status, 0, resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("[docs] - skipped: "), "a rule-skipped job stays skipped on resume:\n\(resumed.stdout)")
        XCTAssertFalse(resumed.stdout.contains("building docs"))

        // In the freeze (Tuesday, inside the window hours): blocked even with an approval.
        let frozen = ["SHIPGATE_TEST_NOW": "2026-12-22T10:00:00Z"]
        let f = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain"], env: frozen)
        XCTAssertEqual(f.status, 3)
        let frozenRun = try XCTUnwrap(GateRepo.runID(f.stdout))
        XCTAssertTrue(f.stdout.contains("in the freeze 2026-12-20..2027-01-04 (year-end freeze)"), f.stdout)
        try await repo.ok(["approve", frozenRun, "--env", "prod", "--key", repo.key("alice")], env: frozen)
        let glassOnly = try await repo.shipgate(["resume", frozenRun, "--break-glass", "payments outage", "--output", "plain"], env: frozen)
        XCTAssertEqual(glassOnly.status, 3, "break-glass needs one more approval, marked break-glass")
        XCTAssertTrue(glassOnly.stdout.contains("overridden by break-glass (payments outage)"), glassOnly.stdout)
        XCTAssertTrue(glassOnly.stdout.contains("1 of 2 approvals"), glassOnly.stdout)
        try await repo.ok(["approve", frozenRun, "--env", "prod", "--key", repo.key("bob"), "--break-glass", "payments outage"], env: frozen)
        let glass = try await repo.shipgate(["resume", frozenRun, "--break-glass", "payments outage", "--output", "plain"], env: frozen)
        XCTAssertEqual(glass.status, 0, glass.stdout)
        let audit = try await repo.shipgate(["audit"])
        XCTAssertTrue(audit.stdout.contains("break-glass by tester [prod]"), audit.stdout)
    }

    func testPromoteFromNeedsTheSameCommitAndArtifactsVerifiedInTheEarlierEnvironment() async throws {
        let repo = try await GateRepo(
            pipeline: """
                name: promoted
                environments:
                  staging: {}
                  prod: { promote-from: staging }
                jobs:
                  build:
                    steps: [{ run: 'mkdir -p dist && cp release.txt dist/app.txt' }]
                    artifacts: { paths: ["dist/**"] }
                  deploy-staging:
                    needs: [build]
                    environment: staging
                    steps: [{ run: 'true' }]
                  deploy-prod:
                    needs: [build]
                    environment: prod
                    steps: [{ run: 'true' }]

                """)
        let early = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain"])
        XCTAssertEqual(early.status, 3)
        XCTAssertTrue(early.stdout.contains("has not deployed and verified in staging"), early.stdout)
        try await repo.ok(["run", "pipelines/deploy.yml", "--job", "deploy-staging"])
        let promoted = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain"])
        XCTAssertEqual(promoted.status, 0, promoted.stdout)
        // A different artifact (uncommitted change) has not been through staging.
        try repo.write("changed\n", to: "release.txt")
        let changed = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain"])
        XCTAssertEqual(changed.status, 3, changed.stdout)
    }

    func testVerifyFailureRollsBackAndAFailedRollbackIsLoud() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        let good = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-staging", "--output", "plain"])
        XCTAssertEqual(good.status, 0, good.stdout)
        let goodContent = repo.read("live/staging.txt")
        XCTAssertTrue(goodContent.hasPrefix("good"))

        try repo.write("BROKEN\n", to: "release.txt")
        let bad = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-staging", "--output", "plain"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stdout.contains("rolled back staging to release staging-"), bad.stdout)
        XCTAssertEqual(repo.read("live/staging.txt"), goodContent, "the previous release's retained artifact is back")
        var history = try await repo.history("staging")
        XCTAssertEqual(history.map { $0["status"] as? String }, ["rolled-back", "success"])

        let loud = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-staging", "--output", "plain"], env: ["FAIL_ROLLBACK": "1"])
        XCTAssertEqual(loud.status, 1)
        XCTAssertTrue(loud.stdout.contains("ROLLBACK FAILED"), loud.stdout)
        XCTAssertTrue(loud.stdout.contains("needs manual action"), loud.stdout)
        history = try await repo.history("staging")
        XCTAssertEqual(history.first?["status"] as? String, "rollback-failed")
        let audit = try await repo.shipgate(["audit", "--env", "staging"])
        XCTAssertTrue(audit.stdout.contains("rollback-failed"), audit.stdout)
        XCTAssertTrue(audit.stdout.contains("rollback by tester"), audit.stdout)
        XCTAssertTrue(audit.stdout.contains("verify by tester [staging]") && audit.stdout.contains("result=failed"), audit.stdout)

        // Tampering with the audit log is detected.
        try await repo.ok(["audit", "verify"])
        try await repo.sh(
            #"python3 -c "import sqlite3; c = sqlite3.connect('.shipgate/state.db'); c.execute(\"UPDATE audit SET actor = 'nobody' WHERE seq = 2\"); c.commit()""#
        )
        let verify = try await repo.shipgate(["audit", "verify"])
        XCTAssertEqual(verify.status, 1)
        XCTAssertTrue(verify.stderr.contains("entry 2"), verify.stderr)
    }

    func testNothingDeploysWhenTheAuditLogCannotBeWritten() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        try await repo.ok(["run", "pipelines/deploy.yml", "--job", "unit"])  // creates the state database
        try await repo.sh(
            #"python3 -c "import sqlite3; c = sqlite3.connect('.shipgate/state.db'); c.execute(\"CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'read-only audit'); END\"); c.commit()""#
        )
        let out = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-staging", "--output", "plain"])
        XCTAssertEqual(out.status, 1, out.stdout)
        XCTAssertTrue(out.stdout.contains("nothing deploys without an audit trail"), out.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo.path + "/live/staging.txt"), "the deploy step must not have run")
    }

    func testManualRollbackReturnsToThePreviousGoodRelease() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline)
        try await repo.ok(["run", "pipelines/deploy.yml", "--job", "deploy-staging"])
        let first = repo.read("live/staging.txt")
        try repo.write("good 2\n", to: "release.txt")
        try await repo.ok(["run", "pipelines/deploy.yml", "--job", "deploy-staging"])
        XCTAssertTrue(repo.read("live/staging.txt").hasPrefix("good 2"))
        let before = try await repo.history("staging")
        // A manual rollback runs in a checkout of the trusted commit: it names where "live" is.
        let rollback = try await repo.shipgate(["rollback", "--env", "staging", "pipelines/deploy.yml"], env: ["LIVE_ROOT": repo.path])
        XCTAssertEqual(rollback.status, 0, rollback.stdout + rollback.stderr)
        XCTAssertEqual(repo.read("live/staging.txt"), first)
        let after = try await repo.history("staging")
        XCTAssertEqual(after.first?["status"] as? String, "success")
        XCTAssertEqual(after.first?["rollbackOf"] as? String, before.last?["release"] as? String)
        XCTAssertEqual(after.first(where: { $0["release"] as? String == before.first?["release"] as? String })?["status"] as? String, "rolled-back")
        let audit = try await repo.shipgate(["audit", "--env", "staging"])
        XCTAssertTrue(audit.stdout.contains("automatic=false"), audit.stdout)
    }

    func testTwoConcurrentDeploysTakeTurns() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-lock-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let repo = try await GateRepo(
            pipeline: """
                name: serial
                environments:
                  staging: { concurrency: 1 }
                jobs:
                  deploy:
                    environment: staging
                    steps: [{ run: 'echo start >> "$LOCK_LOG"; sleep 0.5; while [ -e "$LOCK_LOG.hold" ]; do sleep 0.05; done; echo end >> "$LOCK_LOG"' }]

                """)
        let env = ["LOCK_LOG": log]
        let path = repo.path
        async let a = CLI.run(["run", "pipelines/deploy.yml", "--output", "plain"], in: path, environment: env)
        async let b = CLI.run(["run", "pipelines/deploy.yml", "--output", "plain"], in: path, environment: env)
        let (ra, rb) = try await (a, b)
        XCTAssertEqual(ra.status, 0, ra.stdout)
        XCTAssertEqual(rb.status, 0, rb.stdout)
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        XCTAssertEqual(lines, ["start", "end", "start", "end"], "the deploys overlapped")
        XCTAssertTrue((ra.stdout + rb.stdout).contains("waiting for the staging deploy lock, held by run"), ra.stdout + rb.stdout)

        // With a short --lock-timeout the second deploy gives up and says who holds the lock.
        // (`c` holds the lock until the hold file is removed, however slow the machine is.)
        FileManager.default.createFile(atPath: log + ".hold", contents: nil)
        async let c = CLI.run(["run", "pipelines/deploy.yml", "--output", "plain"], in: path, environment: env)
        for _ in 0..<200 {  // until c holds the lock (its step has started)
            if ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count >= 5 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let impatient = try await CLI.run(["run", "pipelines/deploy.yml", "--output", "plain", "--lock-timeout", "200ms"], in: path, environment: env)
        XCTAssertEqual(impatient.status, 1, impatient.stdout)
        XCTAssertTrue(impatient.stdout.contains("timed out after 200ms waiting for the staging deploy lock, held by run"), impatient.stdout)
        try FileManager.default.removeItem(atPath: log + ".hold")
        let finished = try await c
        XCTAssertEqual(finished.status, 0, finished.stdout)
    }

    func testKillNineMidDeployThenResume() async throws {
        let repo = try await GateRepo(
            pipeline: """
                name: crash
                environments:
                  staging: { concurrency: 1 }
                jobs:
                  build:
                    steps: [{ run: 'mkdir -p dist && date +%s%N > dist/app.txt' }]
                    artifacts: { paths: ["dist/**"] }
                  deploy:
                    needs: [build]
                    environment: staging
                    steps:
                      - run: 'if [ -f resumed ]; then cp "$SHIPGATE_ARTIFACTS/dist/app.txt" deployed.txt; else echo $$ > step.pid; sleep 60; fi'

                """)
        let pid = try await repo.sh(
            "SHIPGATE_ACTOR=tester NO_COLOR=1 '\(CLI.binary)' run pipelines/deploy.yml --output plain > out.txt 2>&1 & echo $!")
        var waited = 0
        while !FileManager.default.fileExists(atPath: repo.path + "/step.pid") && waited < 200 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: repo.path + "/step.pid"), repo.read("out.txt"))
        try await repo.sh("kill -9 \(pid); sleep 0.2; kill -9 -- -$(cat step.pid) 2>/dev/null || true")
        let built = repo.read("dist/app.txt")

        let status = try await repo.shipgate(["status"])
        XCTAssertTrue(status.stdout.contains("interrupted"), status.stdout)
        XCTAssertTrue(status.stdout.contains("shipgate resume"), status.stdout)
        try repo.write("", to: "resumed")
        let run = try XCTUnwrap(GateRepo.runID(repo.read("out.txt")))
        let resumed = try await repo.shipgate(["resume", run, "--output", "plain"])
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("released the staging deploy lock of run \(run)"), resumed.stdout)
        XCTAssertEqual(repo.read("deployed.txt"), built, "the build of the interrupted run is reused, not redone")
        let history = try await repo.history("staging")
        XCTAssertEqual(history.map { $0["status"] as? String }, ["success", "interrupted"])
    }
}
