import Foundation
import ShipgateEngine
import ShipgateModel
import XCTest

/// `$SHIPGATE_ENV` / `$SHIPGATE_PATH` with real steps, including hostile ones.
final class StepFilesTests: XCTestCase {
    var h: Harness!

    override func setUpWithError() throws { h = try Harness() }
    override func tearDown() { h.cleanUp() }

    func testVariablesAndPathReachTheLaterStepsOnly() async throws {
        let out = try await h.run(
            """
            name: env
            jobs:
              a:
                steps:
                  - run: 'test ! -e "$SHIPGATE_ENV"; echo GREETING=hi >> "$SHIPGATE_ENV"; echo /opt/tools >> "$SHIPGATE_PATH"'
                  - run: 'echo "$GREETING ${PATH%%:*}"; test ! -e "$SHIPGATE_ENV"'
              b:
                needs: [a]
                steps: [{run: 'echo "b sees ${GREETING:-nothing}"'}]
            """)
        XCTAssertEqual(out.result.status, .success, out.allText)
        XCTAssertEqual(out.lines(of: "a"), ["hi /opt/tools"])
        XCTAssertEqual(out.lines(of: "b"), ["b sees nothing"])
    }

    /// A file planted at another job's path (the outputs directory is writable by every step)
    /// is removed before that job's first step, not applied to its later steps.
    func testAFilePlantedForAnotherJobIsNotApplied() async throws {
        let out = try await h.run(
            """
            name: plant
            jobs:
              plant:
                steps: [{run: 'echo BASH_ENV=/tmp/evil >> "$(dirname "$SHIPGATE_ENV")/victim.env"; echo /tmp/evil >> "$(dirname "$SHIPGATE_ENV")/victim.path"'}]
              victim:
                needs: [plant]
                steps:
                  - run: 'true'
                  - run: 'echo "BASH_ENV=${BASH_ENV:-unset} ${PATH%%:*}"'
            """)
        XCTAssertEqual(out.result.status, .success, out.allText)
        XCTAssertEqual(out.lines(of: "victim").last.map { $0.hasPrefix("BASH_ENV=unset ") && !$0.hasSuffix(" /tmp/evil") }, true, out.allText)
    }

    /// A FIFO, a symlink or a directory in place of the file: nothing is read, nothing blocks,
    /// and the step is warned.
    func testAFifoALinkOrADirectoryIsRefusedWithoutBlocking() async throws {
        try h.write("secret.txt", "LEAK=yes\n")
        let out = try await h.run(
            """
            name: hostile
            jobs:
              fifo:
                steps:
                  - run: 'mkfifo "$SHIPGATE_ENV"'
                  - run: 'echo after fifo'
              link:
                steps:
                  - run: 'ln -s "$SHIPGATE_WORKSPACE/secret.txt" "$SHIPGATE_ENV"'
                  - run: 'echo "LEAK=${LEAK:-no}"'
              dir:
                steps:
                  - run: 'mkdir "$SHIPGATE_PATH"'
                  - run: 'echo after dir'
            """)
        XCTAssertEqual(out.result.status, .success, out.allText)
        XCTAssertEqual(out.lines(of: "fifo").last, "after fifo")
        XCTAssertEqual(out.lines(of: "link").last, "LEAK=no")
        XCTAssertEqual(out.lines(of: "dir").last, "after dir")
        XCTAssertTrue(out.lines(of: "fifo").contains { $0.contains("$SHIPGATE_ENV is not a regular file; ignored") }, out.allText)
        XCTAssertTrue(out.lines(of: "link").contains { $0.contains("$SHIPGATE_ENV is not a regular file; ignored") }, out.allText)
        XCTAssertTrue(out.lines(of: "dir").contains { $0.contains("$SHIPGATE_PATH is not a regular file; ignored") }, out.allText)
    }
}
