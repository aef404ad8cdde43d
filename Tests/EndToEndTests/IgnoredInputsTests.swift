import Foundation
import XCTest

/// `inputs` follow `.gitignore`, through the binary in a real repository.
final class IgnoredInputsTests: XCTestCase {
    static let pipeline = """
        name: py
        jobs:
          lint:
            inputs: ["**", "!fmt/**"]
            steps:
              - run: |
                  echo "lint ran"
                  mkdir -p src/__pycache__ .mypy_cache/3.12
                  date +%s%N > src/__pycache__/app.cpython-312.pyc
                  date +%s%N > .mypy_cache/3.12/app.data.json
          fmt:
            needs: []
            inputs: ["fmt/**"]
            steps:
              - run: echo "# formatted $(date +%s%N)" >> fmt/a.py
          gen:
            needs: []
            inputs: {paths: ["gen/**"], include-ignored: true}
            steps:
              - run: echo "gen ran"
        """

    func testIgnoredFilesAreNotInputsAndAJobChangingItsInputsIsReported() async throws {
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-ignored-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: repo) }
        for dir in ["src", "fmt", "gen"] { try FileManager.default.createDirectory(atPath: repo + "/" + dir, withIntermediateDirectories: true) }
        try Self.pipeline.write(toFile: repo + "/shipgate.yml", atomically: true, encoding: .utf8)
        try "print('app')\n".write(toFile: repo + "/src/app.py", atomically: true, encoding: .utf8)
        try "x = 1\n".write(toFile: repo + "/fmt/a.py", atomically: true, encoding: .utf8)
        try "__pycache__/\n.mypy_cache/\n.shipgate/\ngen/\n".write(toFile: repo + "/.gitignore", atomically: true, encoding: .utf8)
        try "v1\n".write(toFile: repo + "/gen/out.txt", atomically: true, encoding: .utf8)
        let git = "git -c user.name=test -c user.email=test@example.com -c init.defaultBranch=main"
        _ = try await CLI.shell("\(git) init -q && \(git) add -A && \(git) commit -qm initial", in: repo)

        let first = try await CLI.run(["run"], in: repo)
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let all = first.stdout + first.stderr
        XCTAssertTrue(all.contains("job `fmt` changed 1 of its own inputs (`fmt/a.py`); it will never be cached"), all)
        XCTAssertFalse(all.contains("job `lint` changed"), "ignored files written by lint are not its inputs: \(all)")

        let second = try await CLI.run(["run"], in: repo)
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertFalse(second.stdout.contains("lint ran"), "lint is restored although it wrote __pycache__ and .mypy_cache: \(second.stdout)")
        XCTAssertTrue(second.stdout.contains("[lint] ≡ cached"), second.stdout)
        XCTAssertTrue(second.stdout.contains("[fmt] ▶ started"), "fmt changed its input, so it runs again: \(second.stdout)")
        XCTAssertTrue(second.stdout.contains("[gen] ≡ cached"), second.stdout)

        // `include-ignored`: an ignored file's content is part of gen's key.
        try "v2\n".write(toFile: repo + "/gen/out.txt", atomically: true, encoding: .utf8)
        let third = try await CLI.run(["run"], in: repo)
        XCTAssertTrue(third.stdout.contains("gen ran"), third.stdout)
        XCTAssertTrue(third.stdout.contains("[lint] ≡ cached"), third.stdout)
    }
}
