import Foundation
import XCTest

/// Jobs that must not trip over each other on one host, through the binary with real processes.
final class IsolationTests: XCTestCase {
    /// Binds 127.0.0.1:8765, talks to itself over loopback, then holds the port until the other
    /// job has bound it too (or 10 s pass).
    static let bind = """
        import os, socket, sys, time
        name, other = sys.argv[1], sys.argv[2]
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 8765))
        s.listen()
        c = socket.create_connection(("127.0.0.1", 8765), timeout=5)
        conn, _ = s.accept()
        c.sendall(name.encode())
        assert conn.recv(16) == name.encode()
        open(name + "-bound.json", "w").write("1")
        deadline = time.time() + 10
        while not os.path.exists(other + "-bound.json"):
            if time.time() > deadline:
                sys.exit("the other job never bound the port")
            time.sleep(0.02)
        print(name, "bound 8765 while", other, "did too")

        """

    static func pipeline(isolation: String) -> String {
        """
        name: ports
        \(isolation)
        jobs:
          a:
            steps: [{ run: python3 bind.py a b }]
          b:
            steps: [{ run: python3 bind.py b a }]

        """
    }

    func testTwoParallelJobsBindTheSamePortWithPrivateNetworks() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline(isolation: "defaults:\n  isolation: { network: private }"))
        try repo.write(Self.bind, to: "bind.py")
        let out = try await repo.ok(["run", "pipelines/deploy.yml", "--jobs", "2", "--output", "plain"])
        XCTAssertTrue(out.stdout.contains("[a] a bound 8765 while b did too"), out.stdout)
        XCTAssertTrue(out.stdout.contains("[b] b bound 8765 while a did too"), out.stdout)

        // The same jobs on the host's network: the second bind fails.
        try repo.write(Self.pipeline(isolation: ""), to: "pipelines/deploy.yml")
        try await repo.sh("rm -f a-bound.json b-bound.json")
        let shared = try await repo.shipgate(["run", "pipelines/deploy.yml", "--jobs", "2", "--fail-fast", "--output", "plain"])
        XCTAssertEqual(shared.status, 1, shared.stdout)
        XCTAssertTrue(shared.stdout.contains("Address already in use"), shared.stdout)
    }

    func testIsolationIsValidatedWithItsLocation() async throws {
        let repo = try await GateRepo(pipeline: Self.pipeline(isolation: "defaults:\n  isolation: { network: privat, disk: x }"))
        let out = try await repo.shipgate(["validate", "pipelines/deploy.yml"])
        XCTAssertEqual(out.status, 2)
        let text = out.stdout + out.stderr
        XCTAssertTrue(text.contains("pipelines/deploy.yml:3:"), text)
        XCTAssertTrue(text.contains("`isolation.network` must be `shared` or `private`, got `privat`"), text)
        XCTAssertTrue(text.contains("disk"), text)
    }

    /// Takes `held.lock` (a directory, atomically) for half a second; fails if it is taken.
    static let exclusive = #"mkdir held.lock 2>/dev/null || { echo "$SHIPGATE_JOB overlapped" >> overlap.json; exit 1; }; sleep 0.5; rmdir held.lock"#

    func testJobsOfOneResourceGroupNeverOverlapInARunOrAcrossRuns() async throws {
        let pipeline = """
            name: groups
            jobs:
              migrate-a:
                resource-group: database
                steps: [{ run: '\(Self.exclusive)' }]
              migrate-b:
                resource-group: database
                steps: [{ run: '\(Self.exclusive)' }]
              free:
                steps: [{ run: 'echo free' }]

            """
        let repo = try await GateRepo(pipeline: pipeline)
        let out = try await repo.ok(["run", "pipelines/deploy.yml", "--jobs", "3", "--output", "plain"])
        XCTAssertEqual(repo.read("overlap.json"), "", out.stdout)

        // Two runs at once on the same state directory: the second waits for the first.
        // (The job holds the group 2 s, so the second run surely starts within that time.)
        try repo.write(
            pipeline.replacingOccurrences(of: "  migrate-b:", with: "  other:").replacingOccurrences(of: "sleep 0.5", with: "sleep 2"),
            to: "pipelines/deploy.yml")
        let path = repo.path
        async let first = CLI.run(["run", "pipelines/deploy.yml", "--job", "migrate-a", "--output", "plain"], in: path)
        async let second = CLI.run(["run", "pipelines/deploy.yml", "--job", "other", "--output", "plain"], in: path)
        let (one, two) = try await (first, second)
        XCTAssertEqual(one.status, 0, one.stdout + one.stderr)
        XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
        XCTAssertEqual(repo.read("overlap.json"), "", one.stdout + two.stdout)
        XCTAssertTrue((one.stdout + two.stdout).contains("waiting for resource group `database`: another run holds it"), one.stdout + two.stdout)
    }
}
