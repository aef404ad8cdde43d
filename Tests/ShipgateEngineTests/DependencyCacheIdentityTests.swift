import Foundation
import ShipgateEngine
import XCTest

/// The `paths` of a dependency cache are part of its identity.
final class DependencyCacheIdentityTests: XCTestCase {
    var h: Harness!

    override func setUpWithError() throws { h = try Harness() }
    override func tearDown() { h.cleanUp() }

    private func yaml(_ paths: String) -> String {
        """
        name: deps
        jobs:
          install:
            caches:
              - key: venv-1
                restore-keys: ["venv-"]
                paths: \(paths)
            steps:
              - run: |
                  if [ -f .venv/marker ]; then echo reused; else echo fresh; fi
                  mkdir -p .venv .tox && echo m > .venv/marker && echo t > .tox/t
        """
    }

    func testChangingPathsDoesNotRestoreAnEntrySavedForOtherPaths() async throws {
        let first = try await h.run(yaml("[.venv]"), cache: true)
        XCTAssertEqual(first.lines(of: "install"), ["fresh"])
        try FileManager.default.removeItem(atPath: h.workspace + "/.venv")
        let same = try await h.run(yaml("[.venv]"), cache: true)
        XCTAssertEqual(same.lines(of: "install"), ["reused"])
        try FileManager.default.removeItem(atPath: h.workspace + "/.venv")
        let other = try await h.run(yaml("[.venv, .tox]"), cache: true)
        XCTAssertEqual(other.lines(of: "install"), ["fresh"], "neither the exact key nor the restore key finds the entry of other paths")
        XCTAssertTrue(other.notices(of: "install").contains("cache `venv-1`: saved 2 files (4 B)"), "\(other.notices(of: "install"))")
    }
}
