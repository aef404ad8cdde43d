import Foundation
import XCTest

@testable import ShipgateFuzz

/// Inputs from fuzzing (bench/fuzz.sh), replayed through the same targets on every test run:
/// any input that once crashed a parser, and a few of the largest and deepest inputs of the
/// corpus. Each must be handled (accepted or refused with diagnostics) without a crash.
final class FuzzRegressionTests: XCTestCase {
    func testEveryKeptFuzzInputIsHandled() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted()
        XCTAssertFalse(files.isEmpty, "no fuzz inputs kept in \(dir)")
        for file in files {
            let data = try XCTUnwrap(FileManager.default.contents(atPath: dir + "/" + file))
            FuzzTargets.run(Array(data))
        }
    }
}
