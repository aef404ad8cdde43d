import Foundation
import ShipgateActionsCache
import ShipgateCache
import XCTest

/// The entries of `@actions/cache` in shipgate's cache: GitHub's matching rules, one write per
/// (scope, key, version), uploads in chunks at their offsets.
final class ActionsCacheStoreTests: XCTestCase {
    var root: String!
    var store: ActionsCacheStore!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "actions-cache-\(UUID().uuidString)"
        // A clock that moves a second per entry: creation order without waiting.
        let tick = Tick()
        store = try ActionsCacheStore(cache: try LocalCache(root: root)) { tick.next() }
    }

    override func tearDown() {
        store = nil
        try? FileManager.default.removeItem(atPath: root)
    }

    @discardableResult
    func save(_ key: String, _ bytes: [UInt8], scope: String = "acme/app", version: String = "v") throws -> ActionsCacheStore.Entry {
        let id = try store.reserve(scope: scope, key: key, version: version, size: Int64(bytes.count))
        // Second half first: chunks arrive in any order.
        let half = bytes.count / 2
        bytes[half...].withUnsafeBytes { XCTAssertTrue(store.write(id, offset: Int64(half), bytes: $0)) }
        bytes[..<half].withUnsafeBytes { XCTAssertTrue(store.write(id, offset: 0, bytes: $0)) }
        return try store.commit(id, size: Int64(bytes.count))
    }

    func testExactThenNewestPrefixInKeyOrder() throws {
        let old = try save("deps-linux-aaa", [1, 2, 3, 4])
        let new = try save("deps-linux-bbb", [5, 6, 7, 8])
        XCTAssertEqual(store.find(scope: "acme/app", keys: ["deps-linux-aaa"], version: "v")?.blob, old.blob, "exact beats a newer prefix match")
        XCTAssertEqual(store.find(scope: "acme/app", keys: ["deps-linux-ccc", "deps-linux-"], version: "v")?.key, "deps-linux-bbb")
        XCTAssertEqual(store.find(scope: "acme/app", keys: ["nothing", "deps-linux-a"], version: "v")?.key, "deps-linux-aaa", "keys are tried in order")
        XCTAssertNil(store.find(scope: "acme/app", keys: ["deps-linux-aaa"], version: "other"), "another version is another entry")
        XCTAssertNil(store.find(scope: "other/repo", keys: ["deps-"], version: "v"), "entries are scoped")
        XCTAssertNil(store.find(scope: "acme/app", keys: ["Deps-linux-aaa"], version: "v"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: store.blobPath(new.blob)!)), Data([5, 6, 7, 8]))
    }

    /// GitHub's scoping: a run writes to its own ref and reads its ref, a pull request's base
    /// branch, then the default branch. A feature branch or a pull request cannot plant an entry
    /// that the default branch restores; they can restore the default branch's.
    func testEntriesAreScopedByRefSoABranchCannotPoisonTheDefaultBranch() throws {
        let main = ActionsCacheScopes(repository: "acme/app", ref: "refs/heads/main", baseBranch: nil, defaultBranch: "main")
        let feature = ActionsCacheScopes(repository: "acme/app", ref: "refs/heads/feature", baseBranch: nil, defaultBranch: "main")
        let pr = ActionsCacheScopes(repository: "acme/app", ref: "refs/pull/7/merge", baseBranch: "release", defaultBranch: "main")
        let tag = ActionsCacheScopes(repository: "acme/app", ref: "refs/tags/v1", baseBranch: "", defaultBranch: "main")
        XCTAssertEqual(main.read, ["acme/app@refs/heads/main"])
        XCTAssertEqual(feature.read, ["acme/app@refs/heads/feature", "acme/app@refs/heads/main"])
        XCTAssertEqual(pr.write, "acme/app@refs/pull/7/merge")
        XCTAssertEqual(pr.read, ["acme/app@refs/pull/7/merge", "acme/app@refs/heads/release", "acme/app@refs/heads/main"])
        XCTAssertEqual(tag.read, ["acme/app@refs/tags/v1", "acme/app@refs/heads/main"])

        let planted = try save("deps-linux-abc", [6, 6, 6], scope: pr.write)
        XCTAssertNil(store.find(in: main.read, keys: ["deps-linux-abc", "deps-linux-"], version: "v"), "main never restores a pull request's entry")
        XCTAssertNil(store.find(in: feature.read, keys: ["deps-linux-"], version: "v"))
        XCTAssertNil(store.blobPath(planted.blob, scopes: main.read), "nor downloads its archive")
        let good = try save("deps-linux-abc", [1, 2, 3], scope: main.write)
        XCTAssertEqual(store.find(in: feature.read, keys: ["deps-linux-abc"], version: "v")?.blob, good.blob, "a branch restores the default branch's")
        XCTAssertEqual(store.find(in: pr.read, keys: ["deps-linux-abc"], version: "v")?.blob, planted.blob, "its own ref comes first")
        try save("deps-linux-zzz", [4], scope: feature.write)
        XCTAssertEqual(
            store.find(in: feature.read, keys: ["deps-linux-abc", "deps-linux-"], version: "v")?.key, "deps-linux-zzz",
            "the whole lookup (exact, then prefixes) runs in the own ref before the default branch")
    }

    func testAnEntryIsWrittenOnceAndOnlyWhole() throws {
        try save("k", [9, 9])
        XCTAssertThrowsError(try store.reserve(scope: "acme/app", key: "k", version: "v", size: 2)) {
            XCTAssertEqual($0 as? ActionsCacheStore.ReserveError, .exists)
        }
        // A reservation in progress counts too.
        let id = try store.reserve(scope: "acme/app", key: "pending", version: "v", size: 3)
        XCTAssertThrowsError(try store.reserve(scope: "acme/app", key: "pending", version: "v", size: 3))
        XCTAssertNil(store.find(scope: "acme/app", keys: ["pending"], version: "v"), "not found before its commit")
        [UInt8]([1, 2]).withUnsafeBytes { XCTAssertTrue(store.write(id, offset: 0, bytes: $0)) }
        XCTAssertThrowsError(try store.commit(id, size: 3)) { XCTAssertEqual($0 as? ActionsCacheStore.CommitError, .sizeMismatch(expected: 3, actual: 2)) }
        XCTAssertNil(store.find(scope: "acme/app", keys: ["pending"], version: "v"))
        XCTAssertThrowsError(try store.commit(id, size: 2)) {
            XCTAssertEqual($0 as? ActionsCacheStore.CommitError, .unknown, "a failed commit ends the reservation")
        }
        [UInt8]([1]).withUnsafeBytes { XCTAssertFalse(store.write(12345, offset: 0, bytes: $0), "unknown upload") }
        let open = try store.reserve(scope: "acme/app", key: "edge", version: "v", size: 1)
        [UInt8]([1, 2]).withUnsafeBytes {
            XCTAssertFalse(store.write(open, offset: Int64.max - 1, bytes: $0), "an offset that overflows is refused, not a crash")
            XCTAssertFalse(store.write(open, offset: -1, bytes: $0))
        }
        XCTAssertThrowsError(try store.reserve(scope: "acme/app", key: "huge", version: "v", size: ActionsCacheStore.maxSize + 1))
    }

    func testOnlyBlobNamesReachTheFileSystem() throws {
        let entry = try save("k", [1])
        XCTAssertNotNil(store.blobPath(entry.blob))
        for bad in ["../../etc/passwd", String(repeating: "g", count: 64), entry.blob.uppercased(), ""] { XCTAssertNil(store.blobPath(bad), bad) }
        XCTAssertNotNil(store.blobPath(entry.blob, scopes: ["acme/app"]))
        XCTAssertNil(store.blobPath(entry.blob, scopes: ["other/repo"]), "another repository's archive is not served")
    }

    func testRangeHeaders() {
        XCTAssertEqual(ActionsCacheServer.rangeStart("bytes 0-1023/*"), 0)
        XCTAssertEqual(ActionsCacheServer.rangeStart("bytes 33554432-67108863/*"), 33_554_432)
        XCTAssertNil(ActionsCacheServer.rangeStart("items 0-1/*"))
        XCTAssertNil(ActionsCacheServer.rangeStart("bytes x-1/*"))
        XCTAssertNil(ActionsCacheServer.rangeStart("bytes 9223372036854775807-9223372036854775807/*"), "past the size limit")
        XCTAssertNil(ActionsCacheServer.rangeStart("bytes -5-1/*"))
    }
}

final class Tick: @unchecked Sendable {
    private var seconds = 0.0
    private let lock = NSLock()
    func next() -> Date {
        lock.lock()
        defer { lock.unlock() }
        seconds += 1
        return Date(timeIntervalSince1970: 1_700_000_000 + seconds)
    }
}
