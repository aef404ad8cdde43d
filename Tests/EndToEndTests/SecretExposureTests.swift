import Foundation
import XCTest

/// Secrets out of reach of steps, through the built binary: no shipgate process shows a secret,
/// a store credential or the secrets file's path in `/proc`, and secret-manager commands run
/// only once their environment's gate passed.
final class SecretExposureTests: XCTestCase {
    /// Walks every ancestor of the step's shell (its parent, shipgate, up to pid 1) and every
    /// `__reap` helper,
    /// looking for the needles in `environ` and `cmdline`; prints one line per leak and a count.
    static func probe(needles: [String]) -> String {
        let patterns = needles.map { "-e '\($0)'" }.joined(separator: " ")
        return """
            leaks=0; checked=0; reapers=0
            check() {
              for f in environ cmdline; do
                if cat /proc/$1/$f 2>/dev/null | tr '\\0' '\\n' | grep -q -F \(patterns); then
                  echo "LEAK $f of $1 ($(cat /proc/$1/comm))"; leaks=$((leaks+1))
                fi
              done
              checked=$((checked+1))
            }
            pid=$(awk '/^PPid:/{print $2}' /proc/$PPID/status)
            while [ "$pid" -gt 1 ]; do check "$pid"; pid=$(awk '/^PPid:/{print $2}' /proc/$pid/status); done
            for p in /proc/[0-9]*; do
              n=${p#/proc/}
              if [ "$n" != "$$" ] && cat $p/cmdline 2>/dev/null | tr '\\0' ' ' | grep -q -- '^[^ ]*shipgate __reap'; then check "$n"; reapers=$((reapers+1)); fi
            done
            echo "checked=$checked reapers=$reapers leaks=$leaks"

            """
    }

    func testNoShipgateProcessShowsSecretsCredentialsOrTheSecretsFilePathInProc() async throws {
        let id = UUID().uuidString.prefix(8).lowercased()
        let needles = ["stage-tok-\(id)", "pg-pw-\(id)", "state-\(id)", "secrets-\(id)", "file-tok-\(id)"]
        let pipeline = """
            name: probe
            environments:
              staging:
                secrets: [STAGE_TOKEN, FILE_TOKEN]
            jobs:
              lint:
                steps: [{ run: sh probe.sh > lint-probe.json }]
              deploy-staging:
                environment: staging
                steps: [{ run: 'sh probe.sh > deploy-probe.json; test -n "$STAGE_TOKEN" && test -n "$FILE_TOKEN"' }]

            """
        let repo = try await GateRepo(pipeline: pipeline)
        try repo.write(Self.probe(needles: needles), to: "probe.sh")
        try await repo.commitAll("probe")
        let secretsFile = repo.path + "-secrets-\(id).env"
        try "FILE_TOKEN=file-tok-\(id)\n".write(toFile: secretsFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: secretsFile) }
        let env = [
            "STAGE_TOKEN": "stage-tok-\(id)", "PGPASSWORD": "pg-pw-\(id)",
            "SHIPGATE_STATE_URL": "sqlite:\(repo.path)/.shipgate/state-\(id).db",
        ]
        // The store named by the environment, then on the command line.
        for extra in [[], ["--state", "sqlite:\(repo.path)/.shipgate/state-\(id).db"]] {
            let out = try await repo.ok(["run", "pipelines/deploy.yml", "--secrets-file", secretsFile, "--output", "plain"] + extra, env: env)
            for job in ["lint", "deploy"] {
                let report = repo.read("\(job)-probe.json")
                XCTAssertTrue(report.contains("leaks=0"), "\(job) job:\n\(report)\n\(out.stdout)")
                let checked = Int(report.split(separator: "checked=").last?.split(separator: " ").first ?? "") ?? 0
                XCTAssertGreaterThanOrEqual(checked, 3, "shipgate, the reaper and the test process were read:\n\(report)")
                XCTAssertFalse(report.contains("reapers=0"), "the reaper helper was found and read:\n\(report)")
            }
        }
    }

    static let managed = """
        name: managed
        environments:
          prod:
            branches: [main]
            approvals: { required: 1, from: [alice] }
            secrets:
              - PROD_TOKEN: { command: 'echo fetched >> fetches.log; printf "tok-from-manager\\n"' }
          qa:
            secrets: { QA_TOKEN: { command: 'echo "access denied for role qa" >&2; exit 7' } }
        jobs:
          build:
            steps: [{ run: 'echo "build sees ${PROD_TOKEN:-nothing}"' }]
          deploy-prod:
            needs: [build]
            environment: prod
            steps: [{ run: 'mkdir -p live && printf "%s" "$PROD_TOKEN" > live/token.txt && echo "deploying with $PROD_TOKEN"' }]
          deploy-qa:
            environment: qa
            steps: [{ run: echo never }]

        """

    func testASecretManagerCommandRunsOnlyAfterTheGatePassedAndIsMasked() async throws {
        let repo = try await GateRepo(pipeline: Self.managed)
        try await repo.sh("printf 'fetches.log\\n' >> .gitignore")
        try await repo.commitAll("ignore the fetch log")
        let plan = try await repo.ok(["plan", "pipelines/deploy.yml"])
        XCTAssertFalse(plan.stdout.contains("tok-from-manager"), plan.stdout)
        XCTAssertEqual(repo.read("fetches.log"), "", "a plan never fetches a secret")

        let blocked = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-prod", "--output", "plain"])
        XCTAssertEqual(blocked.status, 3, blocked.stdout + blocked.stderr)
        XCTAssertEqual(repo.read("fetches.log"), "", "a blocked gate fetches nothing")
        XCTAssertTrue(blocked.stdout.contains("build sees nothing"), blocked.stdout)
        let run = try XCTUnwrap(GateRepo.runID(blocked.stdout))

        try await repo.ok(["approve", run, "--env", "prod", "--key", repo.key("alice")])
        let deployed = try await repo.ok(["resume", run, "--output", "plain"])
        XCTAssertEqual(repo.read("fetches.log"), "fetched\n", "fetched once, after the gate passed")
        XCTAssertEqual(repo.read("live/token.txt"), "tok-from-manager", "the trailing newline is dropped")
        XCTAssertTrue(deployed.stdout.contains("deploying with ***"), deployed.stdout)
        XCTAssertFalse((deployed.stdout + deployed.stderr).contains("tok-from-manager"))
        let logs = try await repo.sh("cat .shipgate/runs/\(run)/*.log .shipgate/runs/\(run)/*.json 2>/dev/null; true")
        XCTAssertFalse(logs.contains("tok-from-manager"), "never in a log or record")
        let dump = try await repo.sh("sqlite3 .shipgate/state.db .dump")
        XCTAssertFalse(dump.contains("tok-from-manager"), "never in the state store")

        let failed = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "deploy-qa", "--output", "plain"])
        XCTAssertEqual(failed.status, 1, failed.stdout + failed.stderr)
        XCTAssertTrue(failed.stdout.contains("the command of secret QA_TOKEN exited 7: access denied for role qa"), failed.stdout)
        XCTAssertFalse(failed.stdout.contains("never"), "the deploy did not start")
    }

    func testSecretsAsAMappingOrListItemsAreValidatedWithTheirLocation() async throws {
        let repo = try await GateRepo(pipeline: Self.managed.replacingOccurrences(of: "{ command: 'echo \"access", with: "{ comand: 'echo \"access"))
        let out = try await repo.shipgate(["validate", "pipelines/deploy.yml"])
        XCTAssertEqual(out.status, 2, out.stdout + out.stderr)
        XCTAssertTrue((out.stdout + out.stderr).contains("pipelines/deploy.yml:9:"), out.stdout + out.stderr)
        XCTAssertTrue((out.stdout + out.stderr).contains("comand"), out.stdout + out.stderr)
    }

    /// A parallel job and a daemon an earlier job left running scan every process's environ
    /// for the deploy's secret: the deploy runs alone, after the daemon was stopped.
    func testNoOtherJobOrLeftoverDaemonRunsBesideADeployThatHoldsSecrets() async throws {
        let id = UUID().uuidString.prefix(8).lowercased()
        let spy = """
            echo ran > "ran-$1.json"
            end=$(( $(date +%s) + 3 ))
            while [ "$(date +%s)" -lt "$end" ]; do
              for f in /proc/[0-9]*/environ; do
                if tr '\\0' '\\n' < "$f" 2>/dev/null | grep -q 'stage-tok-\(id)'; then echo "$f" > "LEAK-$1.json"; exit 0; fi
              done
            done

            """
        let pipeline = """
            name: alone
            environments:
              staging:
                secrets: [STAGE_TOKEN]
            jobs:
              spy:
                steps: [{ run: sh spy.sh spy }]
              daemon:
                steps: [{ run: 'setsid sh spy.sh daemon > /dev/null 2>&1 < /dev/null & echo started' }]
              deploy-staging:
                environment: staging
                steps: [{ run: 'test -n "$STAGE_TOKEN" && echo deployed > deploy.json && sleep 1' }]

            """
        let repo = try await GateRepo(pipeline: pipeline)
        try repo.write(spy, to: "spy.sh")
        try await repo.commitAll("spy")
        let out = try await repo.ok(["run", "pipelines/deploy.yml", "--jobs", "3", "--output", "plain"], env: ["STAGE_TOKEN": "stage-tok-\(id)"])
        XCTAssertEqual(repo.read("deploy.json"), "deployed\n", out.stdout)
        XCTAssertEqual(repo.read("ran-spy.json"), "ran\n")
        XCTAssertEqual(repo.read("LEAK-spy.json"), "", "the parallel job never saw the secret")
        XCTAssertEqual(repo.read("LEAK-daemon.json"), "", "the daemon was stopped before the deploy got its secret")
    }
}
