import Foundation
import ShipgateCache
import XCTest

@testable import ShipgateJobCache

/// The fast path's records in-process: what is verified before recording, which changes to a
/// recorded file or entry invalidate it, the racy window, concurrent saves, and the file format.
final class FreshRecordsTests: XCTestCase {
    var root = ""
    var entryPath: String { root + "/entry.json" }

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "fresh-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        try "{\"entry\": 1}".write(toFile: entryPath, atomically: true, encoding: .utf8)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    private func write(_ path: String, _ text: String) throws { try text.write(toFile: root + "/" + path, atomically: false, encoding: .utf8) }

    private func digest(_ path: String) -> String? { try? Digest.file(root + "/" + path).digest }

    /// The entry's view of `out/a.txt` ("alpha\n", 0644) and `out/link` (-> a.txt).
    private func entries() throws -> [FileEntry] {
        [
            FileEntry(path: "out/a.txt", kind: .file, mode: 0o644, size: 6, digest: try Digest.file(root + "/out/a.txt").digest),
            FileEntry(path: "out/link", kind: .symlink, mode: 0o777, size: 0, digest: "", target: "a.txt"),
        ]
    }

    private func recorded(_ records: FreshRecords = FreshRecords(path: nil, racyWindow: 0)) throws -> FreshRecords {
        try write("out/a.txt", "alpha\n")
        _ = chmod(root + "/out/a.txt", 0o644)
        try FileManager.default.createSymbolicLink(atPath: root + "/out/link", withDestinationPath: "a.txt")
        records.record(job: "build", key: "k1", runID: "r1", outputs: ["x": "1"], files: try entries(), root: root, entryPath: entryPath, digest: digest)
        return records
    }

    private func upToDate(_ records: FreshRecords, key: String = "k1", job: String = "build") -> FreshRecords.Record? {
        records.upToDate(job: job, key: key, root: root, entryPath: entryPath)
    }

    func testAnUnchangedRecordIsUpToDateForItsKeyOnly() throws {
        let records = try recorded()
        XCTAssertEqual(upToDate(records)?.outputs, ["x": "1"])
        XCTAssertNil(upToDate(records, key: "k2"), "another key")
        XCTAssertNil(upToDate(records, job: "other"), "another job")
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
            ("entry rewritten", { try "{\"entry\": 2}".write(toFile: $0 + "/entry.json", atomically: true, encoding: .utf8) }),
            ("entry truncated", { _ = truncate($0 + "/entry.json", 0) }),
            ("entry removed", { try FileManager.default.removeItem(atPath: $0 + "/entry.json") }),
        ]
        for (what, change) in changes {
            try? FileManager.default.removeItem(atPath: root + "/out")
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
            try "{\"entry\": 1}".write(toFile: entryPath, atomically: true, encoding: .utf8)
            let records = try recorded()
            XCTAssertNotNil(upToDate(records), what)
            try change(root)
            XCTAssertNil(upToDate(records), what)
        }
    }

    func testOnlyFilesThatHoldTheEntrysContentAreRecorded() throws {
        try write("out/a.txt", "alpha\n")
        _ = chmod(root + "/out/a.txt", 0o644)
        try FileManager.default.createSymbolicLink(atPath: root + "/out/link", withDestinationPath: "a.txt")
        var wrong = try entries()
        try write("out/a.txt", "other!\n")  // changed after the entry's digest was taken
        let records = FreshRecords(path: nil, racyWindow: 0)
        records.record(job: "build", key: "k1", runID: "r1", outputs: [:], files: wrong, root: root, entryPath: entryPath, digest: digest)
        XCTAssertNil(upToDate(records), "content that differs from the entry is never recorded")
        try write("out/a.txt", "alpha\n")
        wrong[1].target = "elsewhere"
        records.record(job: "build", key: "k1", runID: "r1", outputs: [:], files: wrong, root: root, entryPath: entryPath, digest: digest)
        XCTAssertNil(upToDate(records), "a link with another target is never recorded")
        records.record(job: "build", key: "k1", runID: "r1", outputs: [:], files: try entries(), root: root, entryPath: entryPath, digest: { _ in nil })
        XCTAssertNil(upToDate(records), "a file that cannot be hashed is never recorded")
    }

    func testFilesChangedWithinTheRacyWindowAreNotRecorded() throws {
        let records = try recorded(FreshRecords(path: nil, racyWindow: 3600))
        XCTAssertNil(upToDate(records))
    }

    func testSavedRecordsRoundTripAndDamageLosesOnlyTheDamagedJob() throws {
        let path = root + "/fresh.tsv"
        let records = FreshRecords(path: path, racyWindow: 0)
        try write("out/we\tird.txt", "b\n")
        let weird = FileEntry(path: "out/we\tird.txt", kind: .file, mode: 0o644, size: 2, digest: digest("out/we\tird.txt")!)
        _ = chmod(root + "/out/we\tird.txt", 0o644)
        records.record(
            job: "build\tx", key: "k1", runID: "r1", outputs: ["multi": "a\nb\tc\\d", "empty": ""], files: [weird], root: root, entryPath: entryPath,
            digest: digest)
        records.record(job: "docs", key: "k2", runID: "r2", outputs: [:], files: [], root: root, entryPath: entryPath, digest: digest)
        records.save()
        let loaded = FreshRecords(path: path, racyWindow: 0)
        let build = loaded.upToDate(job: "build\tx", key: "k1", root: root, entryPath: entryPath)
        XCTAssertEqual(build?.outputs, ["multi": "a\nb\tc\\d", "empty": ""])
        XCTAssertEqual(build?.files.map(\.path), ["out/we\tird.txt"])
        XCTAssertNotNil(upToDate(loaded, key: "k2", job: "docs"))

        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\nF\t", with: "\nF\tnot-a-number\t")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let damaged = FreshRecords(path: path, racyWindow: 0)
        XCTAssertNil(damaged.upToDate(job: "build\tx", key: "k1", root: root, entryPath: entryPath), "a damaged line drops its job")
        XCTAssertNotNil(upToDate(damaged, key: "k2", job: "docs"), "the other jobs stay")
        try Data([0xff, 0x00, 0x09, 0x0a, 0x4a]).write(to: URL(fileURLWithPath: path))
        XCTAssertNil(upToDate(FreshRecords(path: path, racyWindow: 0), key: "k2", job: "docs"), "garbage is no record")
    }

    /// Two runs that loaded the same file: each save applies only its own records and forgets.
    func testASaveKeepsAnotherRunsChanges() throws {
        let path = root + "/fresh.tsv"
        let a = FreshRecords(path: path, racyWindow: 0)
        let b = FreshRecords(path: path, racyWindow: 0)
        b.record(job: "docs", key: "k2", runID: "b", outputs: ["v": "new"], files: [], root: root, entryPath: entryPath, digest: digest)
        b.save()
        a.record(job: "lint", key: "k3", runID: "a", outputs: [:], files: [], root: root, entryPath: entryPath, digest: digest)
        a.save()
        let after = FreshRecords(path: path, racyWindow: 0)
        XCTAssertEqual(upToDate(after, key: "k2", job: "docs")?.outputs, ["v": "new"], "a's save kept b's record")
        XCTAssertNotNil(upToDate(after, key: "k3", job: "lint"))
        let c = FreshRecords(path: path, racyWindow: 0)
        c.forget(job: "docs")
        c.save()
        XCTAssertNil(upToDate(FreshRecords(path: path, racyWindow: 0), key: "k2", job: "docs"))
    }

    func testForgetRemovesTheJob() throws {
        let records = try recorded()
        records.forget(job: "build")
        XCTAssertNil(upToDate(records))
    }
}
