import Foundation
import XCTest

/// `toolchain:` through the binary: a matrix picks a different interpreter per variant, from a
/// GitHub-style tool cache and from the system, and says how to install a missing one.
final class ToolchainTests: XCTestCase {
    func testAMatrixPicksTheRequestedPythonPerVariant() async throws {
        let pipeline = """
            name: pythons
            jobs:
              test:
                matrix: { python: ["3.11", "3.12"] }
                toolchain: { python: "${{ matrix.python }}" }
                inputs: ["src/**"]
                steps: [{ run: 'python3 --version; python --version; echo "key sees $SHIPGATE_TOOLCHAIN_PYTHON"' }]
              missing:
                toolchain: { python: "3.99" }
                steps: [{ run: 'true' }]

            """
        let repo = try await GateRepo(pipeline: pipeline)
        try FileManager.default.createDirectory(atPath: repo.path + "/src", withIntermediateDirectories: true)
        try repo.write("print(1)\n", to: "src/app.py")
        // A tool cache as `actions/setup-python` leaves it, holding 3.12.4 (this machine's
        // system Python is 3.11).
        let cache = repo.path + "-toolcache"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let bin = cache + "/Python/3.12.4/x64/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for name in ["python3", "python"] {
            try "#!/bin/sh\necho 'Python 3.12.4'\n".write(toFile: bin + "/" + name, atomically: true, encoding: .utf8)
            chmod(bin + "/" + name, 0o755)
        }
        let env = ["SHIPGATE_TOOLCHAIN_CACHE_TEST": "1", "SHIPGATE_TOOLCACHE": cache]
        let out = try await repo.shipgate(["run", "pipelines/deploy.yml", "--output", "plain"], env: env)
        XCTAssertEqual(out.status, 1, out.stdout)
        // The variants run in parallel: their lines interleave, so each job's are compared alone.
        func lines(_ job: String) -> [String] {
            out.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("[\(job)] Python ") }
        }
        XCTAssertEqual(lines("test (python=3.12)"), ["[test (python=3.12)] Python 3.12.4", "[test (python=3.12)] Python 3.12.4"], out.stdout)
        // 3.11 is not in the tool cache: a real one (uv, pyenv or the system's) is found, and is
        // what `python3` and `python` run.
        let found = try XCTUnwrap(out.stdout.range(of: #"toolchain: python 3\.11(\.[0-9]+)?"#, options: .regularExpression).map { out.stdout[$0] })
        let version = found.dropFirst("toolchain: python ".count)
        XCTAssertEqual(lines("test (python=3.11)"), Array(repeating: "[test (python=3.11)] Python \(version)", count: 2), out.stdout)
        XCTAssertTrue(out.stdout.contains("toolchain: python 3.12.4 (tool cache)"), out.stdout)
        XCTAssertTrue(out.stdout.contains("no python 3.99 is installed"), out.stdout)
        XCTAssertTrue(out.stdout.contains("uv python install 3.99"), out.stdout)

        // Unchanged: both variants come from the cache; another interpreter version would not.
        let again = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "test", "--output", "plain"], env: env)
        XCTAssertEqual(again.status, 0, again.stdout)
        XCTAssertTrue(again.stdout.contains("[test (python=3.11)] ≡ cached") && again.stdout.contains("[test (python=3.12)] ≡ cached"), again.stdout)
        try FileManager.default.moveItem(atPath: cache + "/Python/3.12.4", toPath: cache + "/Python/3.12.5")
        let newer = try await repo.shipgate(["run", "pipelines/deploy.yml", "--job", "test", "--output", "plain"], env: env)
        XCTAssertTrue(newer.stdout.contains("toolchain: python 3.12.5 (tool cache)"), newer.stdout)
        XCTAssertTrue(newer.stdout.contains("[test (python=3.11)] ≡ cached"), newer.stdout)
        XCTAssertFalse(newer.stdout.contains("[test (python=3.12)] ≡ cached"), "a new interpreter version is a new key:\n\(newer.stdout)")
    }
}
