import Foundation
import XCTest

@testable import ShipgateJobCache

/// The fast path's records in-process: which changes to a recorded file invalidate it, the racy
/// window, and the file format's round trip and damage handling.
final class FreshRecordsTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "fresh-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    private func write(_ path: String, _ text: String) throws { try text.write(toFile: root + "/" + path, atomically: false, encoding: .utf8) }

    private func recorded(_ records: FreshRecords = FreshRecords(path: nil, racyWindow: 0)) throws -> FreshRecords {
        try write("out/a.txt", "alpha\n")
        try FileManager.default.createSymbolicLink(atPath: root + "/out/link", withDestinationPath: "a.txt")
        records.record(job: "build", key: "k1", runID: "r1", outputs: ["x": "1"], files: ["out/a.txt", "out/link"], root: root)
        return records
    }

    func testAnUnchangedRecordIsUpToDateForItsKeyOnly() throws {
        let records = try recorded()
        XCTAssertEqual(records.upToDate(job: "build", key: "k1", root: root)?.outputs, ["x": "1"])
        XCTAssertNil(records.upToDate(job: "build", key: "k2", root: root), "another key")
        XCTAssertNil(records.upToDate(job: "other", key: "k1", root: root), "another job")
    }

    func testEveryKindOfChangeInvalidatesTheRecord() throws {
        let changes: [(String, (String) throws -> Void)] = [
            ("content, same size", { try "ALPHA\n".write(toFile: $0 + "/out/a.txt", atomically: false, encoding: .utf8) }),
            ("replaced by a new file", { try "alpha\n".write(toFile: $0 + "/out/a.txt", atomically: true, encoding: .utf8) }),
            ("mode", { _ = chmod($0 + "/out/a.txt", 0o600) }),
            ("deleted", { try FileManager.default.removeItem(atPath: $0 + "/out/a.txt") }),
            (
                "link retargeted",
                {
                    try FileManager.default.removeItem(atPath: $0 + "/out/link")
                    try FileManager.default.createSymbolicLink(atPath: $0 + "/out/link", withDestinationPath: "b.txt")
                }
            ),
        ]
        for (what, change) in changes {
            try? FileManager.default.removeItem(atPath: root + "/out")
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
            let records = try recorded()
            XCTAssertNotNil(records.upToDate(job: "build", key: "k1", root: root), what)
            try change(root)
            XCTAssertNil(records.upToDate(job: "build", key: "k1", root: root), what)
        }
    }

    func testFilesChangedWithinTheRacyWindowAreNotRecorded() throws {
        let records = try recorded(FreshRecords(path: nil, racyWindow: 3600))
        XCTAssertNil(records.upToDate(job: "build", key: "k1", root: root))
    }

    func testSavedRecordsRoundTripAndDamageLosesOnlyTheDamagedJob() throws {
        let path = root + "/fresh.tsv"
        let records = FreshRecords(path: path, racyWindow: 0)
        try write("out/a.txt", "alpha\n")
        try write("out/we\tird.txt", "b\n")
        records.record(
            job: "build\tx", key: "k1", runID: "r1", outputs: ["multi": "a\nb\tc\\d", "empty": ""], files: ["out/a.txt", "out/we\tird.txt"], root: root)
        records.record(job: "docs", key: "k2", runID: "r2", outputs: [:], files: [], root: root)
        records.save()
        let loaded = FreshRecords(path: path, racyWindow: 0)
        let build = loaded.upToDate(job: "build\tx", key: "k1", root: root)
        XCTAssertEqual(build?.outputs, ["multi": "a\nb\tc\\d", "empty": ""])
        XCTAssertEqual(build?.files.map(\.path), ["out/a.txt", "out/we\tird.txt"])
        XCTAssertNotNil(loaded.upToDate(job: "docs", key: "k2", root: root))

        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\nF\t", with: "\nF\tnot-a-number\t")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let damaged = FreshRecords(path: path, racyWindow: 0)
        XCTAssertNil(damaged.upToDate(job: "build\tx", key: "k1", root: root), "a damaged line drops its job")
        XCTAssertNotNil(damaged.upToDate(job: "docs", key: "k2", root: root), "the other jobs stay")
        try Data([0xff, 0x00, 0x09, 0x0a, 0x4a]).write(to: URL(fileURLWithPath: path))
        XCTAssertNil(FreshRecords(path: path, racyWindow: 0).upToDate(job: "docs", key: "k2", root: root), "garbage is no record")
    }

    func testForgetAndAFailedRecordRemoveTheJob() throws {
        let records = try recorded()
        records.record(job: "build", key: "k1", runID: "r1", outputs: [:], files: ["out/missing"], root: root)
        XCTAssertNil(records.upToDate(job: "build", key: "k1", root: root), "a file that is not there forgets the job")
        let again = try recordedAgain()
        again.forget(job: "build")
        XCTAssertNil(again.upToDate(job: "build", key: "k1", root: root))
    }

    private func recordedAgain() throws -> FreshRecords {
        let records = FreshRecords(path: nil, racyWindow: 0)
        records.record(job: "build", key: "k1", runID: "r1", outputs: [:], files: ["out/a.txt"], root: root)
        XCTAssertNotNil(records.upToDate(job: "build", key: "k1", root: root))
        return records
    }
}
