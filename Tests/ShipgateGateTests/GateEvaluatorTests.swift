import Foundation
import ShipgateModel
import XCTest

@testable import ShipgateGate

/// The gate's rules as a pure function: approvals, windows and freezes in named time zones.
final class GateEvaluatorTests: XCTestCase {
    let at = SourceLocation(file: "p.yml", line: 1, column: 1)
    let alice = ApproverKey(name: "alice")
    let bob = ApproverKey(name: "bob")
    let mallory = ApproverKey(name: "mallory")
    lazy var keyring = Keyring(keys: [
        "alice": alice.privateKey.publicKey.rawRepresentation, "bob": bob.privateKey.publicKey.rawRepresentation,
    ])
    let commit = String(repeating: "a", count: 40)
    let now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18T11:06:40Z

    func policy(required: Int = 2, from: [String] = ["alice", "bob"], allowSelf: Bool = false) -> EnvironmentPolicy {
        EnvironmentPolicy(name: "prod", location: at, approvals: ApprovalPolicy(required: required, from: from, allowSelfApproval: allowSelf))
    }

    func request(actor: String = "dev", artifacts: [String: String] = ["build": "sha256:1"]) -> DeployRequest {
        DeployRequest(runID: "r1", pipelineDigest: "sha256:p", environment: "prod", commit: commit, artifacts: artifacts, actor: actor)
    }

    func statement(
        _ key: ApproverKey, _ decision: ApprovalStatement.Decision = .approve, commit: String? = nil, artifacts: [String: String] = ["build": "sha256:1"],
        issued: Date? = nil, expires: TimeInterval = 3600, breakGlass: String? = nil
    ) throws -> ApprovalStatement {
        var s = ApprovalStatement(
            decision: decision, runID: "r1", pipelineDigest: "sha256:p", environment: "prod", commit: commit ?? self.commit, artifacts: artifacts,
            approver: key.name, issuedAt: issued ?? now.addingTimeInterval(-60), expiresAt: (issued ?? now).addingTimeInterval(expires),
            breakGlass: breakGlass)
        try s.sign(with: key)
        return s
    }

    func facts(_ approvals: [ApprovalStatement], request: DeployRequest? = nil, now: Date? = nil, breakGlass: String? = nil) -> GateFacts {
        GateFacts(
            request: request ?? self.request(), branch: "main", tags: [], hasGit: true, jobStatuses: [:], promotedRelease: nil, approvals: approvals,
            keyring: keyring, now: now ?? self.now, breakGlass: breakGlass)
    }

    func testTwoValidApprovalsPassOneDoesNot() throws {
        let one = GateEvaluator.evaluate(policy(), facts: facts([try statement(alice)]))
        XCTAssertFalse(one.passed)
        XCTAssertEqual(one.approvalsMissing, 1)
        XCTAssertEqual(one.canApprove, ["bob"])
        let two = GateEvaluator.evaluate(policy(), facts: facts([try statement(alice), try statement(bob)]))
        XCTAssertTrue(two.passed, "\(two.rules)")
        XCTAssertEqual(two.approvedBy, ["alice", "bob"])
    }

    func testTheSameApproverCountsOnce() throws {
        let d = GateEvaluator.evaluate(policy(), facts: facts([try statement(alice), try statement(alice, issued: now.addingTimeInterval(-30))]))
        XCTAssertFalse(d.passed)
        XCTAssertEqual(d.approvedBy, ["alice"])
    }

    func testEveryRefusalHasItsReason() throws {
        var tampered = try statement(bob)
        tampered.commit = String(repeating: "b", count: 40)  // signed for another commit, then edited
        let cases: [(ApprovalStatement, DeployRequest, String)] = [
            (try statement(mallory), request(), "unknown approver"),
            (tampered, request(), "bad signature"),
            (try statement(alice), request(actor: "alice"), "self-approval"),
            (try statement(alice, issued: now.addingTimeInterval(-7200), expires: 3600), request(), "expired"),
            (try statement(alice, commit: String(repeating: "c", count: 40)), request(), "different commit"),
            (try statement(alice, artifacts: ["build": "sha256:old"]), request(), "artifacts changed since approval (build)"),
        ]
        for (s, req, reason) in cases {
            let d = GateEvaluator.evaluate(policy(required: 1), facts: facts([s], request: req))
            XCTAssertFalse(d.passed, reason)
            XCTAssertEqual(d.refused.count, 1, reason)
            XCTAssertTrue(d.refused.first?.reason.contains(reason) ?? false, "\(reason) vs \(d.refused)")
        }
    }

    func testPolicyExpiryCapsALongerStatementExpiry() throws {
        var p = policy(required: 1)
        p.approvals?.expire = .minutes(30)
        let d = GateEvaluator.evaluate(p, facts: facts([try statement(alice, issued: now.addingTimeInterval(-3600), expires: 86_400)]))
        XCTAssertFalse(d.passed)
        XCTAssertTrue(d.refused.first?.reason.hasPrefix("expired") ?? false)
    }

    func testSelfApprovalCountsWhenAllowed() throws {
        let d = GateEvaluator.evaluate(policy(required: 1, allowSelf: true), facts: facts([try statement(alice)], request: request(actor: "alice")))
        XCTAssertTrue(d.passed)
    }

    func testNotInFromIsRefused() throws {
        let d = GateEvaluator.evaluate(policy(required: 1, from: ["alice"]), facts: facts([try statement(bob)]))
        XCTAssertFalse(d.passed)
        XCTAssertTrue(d.refused[0].reason.contains("not an approver for this environment"))
    }

    func testARejectionVoidsEarlierApprovalsUntilALaterRound() throws {
        let early = try statement(alice, issued: now.addingTimeInterval(-300))
        let rejection = try statement(bob, .reject, issued: now.addingTimeInterval(-200))
        let blocked = GateEvaluator.evaluate(policy(required: 1), facts: facts([early, rejection]))
        XCTAssertFalse(blocked.passed)
        XCTAssertTrue(blocked.rules.last!.detail.contains("rejected by bob"), blocked.rules.last!.detail)
        XCTAssertTrue(blocked.refused.contains { $0.reason.contains("superseded by a later rejection from bob") })
        let later = try statement(alice, issued: now.addingTimeInterval(-100))
        XCTAssertTrue(GateEvaluator.evaluate(policy(required: 1), facts: facts([early, rejection, later])).passed)
    }

    func testBranchRulesFailClosedWithoutGit() {
        var p = EnvironmentPolicy(name: "prod", location: at)
        p.branches = [Located("main", at: at)]
        var f = facts([])
        f.hasGit = false
        XCTAssertFalse(GateEvaluator.evaluate(p, facts: f).passed)
        f.hasGit = true
        f.branch = "feature/x"
        XCTAssertFalse(GateEvaluator.evaluate(p, facts: f).passed)
        p.branches = [Located("feature/*", at: at)]
        XCTAssertTrue(GateEvaluator.evaluate(p, facts: f).passed)
    }

    func testRequiresAndPromoteFrom() {
        var p = EnvironmentPolicy(name: "prod", location: at)
        p.requires = [Located("scan", at: at)]
        p.promoteFrom = Located("staging", at: at)
        var f = facts([])
        f.jobStatuses = ["scan": ["success", "failed"]]
        let d = GateEvaluator.evaluate(p, facts: f)
        XCTAssertEqual(d.failures.map(\.rule), ["requires", "promote-from"])
        f.jobStatuses = ["scan": ["success", "cached"]]
        f.promotedRelease = "staging-1"
        XCTAssertTrue(GateEvaluator.evaluate(p, facts: f).passed)
    }

    // MARK: - Windows and freezes

    func date(_ iso: String) -> Date { GateTime.date(iso)! }

    func testWindowIsEvaluatedInItsTimeZone() {
        let w = ChangeWindow(days: [.mon, .tue, .wed, .thu], start: 9 * 60, end: 16 * 60, timeZone: "Europe/Berlin")
        // Thursday 2026-11-26: 08:30 UTC is 09:30 in Berlin (open); 15:30 UTC is 16:30 there (closed).
        XCTAssertTrue(ScheduleCheck.window(w, now: date("2026-11-26T08:30:00Z")).passed)
        let late = ScheduleCheck.window(w, now: date("2026-11-26T15:30:00Z"))
        XCTAssertFalse(late.passed)
        XCTAssertTrue(late.detail.contains("now Thu 2026-11-26 16:30 Europe/Berlin"), late.detail)
        XCTAssertTrue(late.detail.contains("next opens Mon 2026-11-30 09:00"), late.detail)
        // Friday is not a listed day; summer time shifts the offset (07:30 UTC is 09:30 CEST).
        XCTAssertFalse(ScheduleCheck.window(w, now: date("2026-11-27T10:00:00Z")).passed)
        XCTAssertTrue(ScheduleCheck.window(w, now: date("2026-07-02T07:30:00Z")).passed)
        XCTAssertFalse(ScheduleCheck.window(w, now: date("2026-07-02T06:30:00Z")).passed)
    }

    /// The wall clock jumps twice a year: local 02:00 becomes 03:00 (2026-03-29 in Berlin) and
    /// 03:00 becomes 02:00 again (2026-10-25). A window is judged on the local time at the
    /// instant checked, so each check is right for its instant, and the skipped or repeated
    /// hour neither opens a closed window nor crashes the check.
    func testWindowChecksAcrossClockJumps() {
        let w = ChangeWindow(days: [.sun], start: 2 * 60, end: 3 * 60, timeZone: "Europe/Berlin")
        // Spring forward: 00:59:59Z is 01:59:59 CET; 01:00Z is 03:00 CEST. The hour 02:xx never happens.
        XCTAssertFalse(ScheduleCheck.window(w, now: date("2026-03-29T00:59:59Z")).passed)
        XCTAssertFalse(ScheduleCheck.window(w, now: date("2026-03-29T01:00:00Z")).passed)
        // Fall back: 02:xx happens twice (00:xxZ as CEST, 01:xxZ as CET); both are inside.
        XCTAssertTrue(ScheduleCheck.window(w, now: date("2026-10-25T00:30:00Z")).passed)
        XCTAssertTrue(ScheduleCheck.window(w, now: date("2026-10-25T01:30:00Z")).passed)
        XCTAssertFalse(ScheduleCheck.window(w, now: date("2026-10-25T02:00:00Z")).passed)
    }

    /// A clock set back (or a skewed approver machine): a statement issued in the future beyond
    /// the tolerated skew does not count until the clock has caught up.
    func testAStatementFromTheFutureCountsOnlyOnceTheClockCatchesUp() throws {
        let s = try statement(alice, issued: now.addingTimeInterval(600))
        XCTAssertEqual(GateEvaluator.problem(with: s, policy: policy(required: 1), facts: facts([s])), .notYetValid)
        XCTAssertNil(GateEvaluator.problem(with: s, policy: policy(required: 1), facts: facts([s], now: now.addingTimeInterval(400))))
    }

    func testWindowAcrossMidnight() {
        let w = ChangeWindow(days: [.fri], start: 22 * 60, end: 2 * 60, timeZone: "UTC")
        XCTAssertTrue(ScheduleCheck.window(w, now: date("2026-11-27T23:00:00Z")).passed)  // Friday night
        XCTAssertTrue(ScheduleCheck.window(w, now: date("2026-11-28T01:00:00Z")).passed)  // Saturday early, Friday's window
        XCTAssertFalse(ScheduleCheck.window(w, now: date("2026-11-28T23:00:00Z")).passed)
    }

    func testFreezeDaysAreInclusiveInTheirZone() {
        let f = Freeze(from: "2026-12-20", to: "2027-01-04", reason: "year-end", timeZone: "America/New_York", location: at)
        // 2026-12-20T03:00Z is still the 19th in New York.
        XCTAssertTrue(ScheduleCheck.freeze(f, defaultZone: nil, now: date("2026-12-20T03:00:00Z")).passed)
        XCTAssertFalse(ScheduleCheck.freeze(f, defaultZone: nil, now: date("2026-12-20T06:00:00Z")).passed)
        XCTAssertFalse(ScheduleCheck.freeze(f, defaultZone: nil, now: date("2027-01-05T03:00:00Z")).passed)  // the 4th there
        XCTAssertTrue(ScheduleCheck.freeze(f, defaultZone: nil, now: date("2027-01-05T06:00:00Z")).passed)
    }

    func testBreakGlassOverridesAWindowButNeedsOneMoreApprovalMarkedBreakGlass() throws {
        var p = policy(required: 1)
        p.window = ChangeWindow(days: [.mon], start: 9 * 60, end: 10 * 60, timeZone: "UTC")
        let closed = date("2026-11-26T12:00:00Z")
        let a = try statement(alice, issued: closed.addingTimeInterval(-60))
        XCTAssertEqual(GateEvaluator.evaluate(p, facts: facts([a], now: closed)).failures.map(\.rule), ["window"])
        let withoutMark = GateEvaluator.evaluate(
            p, facts: facts([a, try statement(bob, issued: closed.addingTimeInterval(-30))], now: closed, breakGlass: "hotfix"))
        XCTAssertFalse(withoutMark.passed)
        XCTAssertTrue(withoutMark.rules.first { $0.rule == "window" }!.passed)
        let marked = GateEvaluator.evaluate(
            p, facts: facts([a, try statement(bob, issued: closed.addingTimeInterval(-30), breakGlass: "hotfix")], now: closed, breakGlass: "hotfix"))
        XCTAssertTrue(marked.passed, "\(marked.rules)")
        XCTAssertEqual(marked.breakGlass, "hotfix")
    }

    func testAnEmptyBreakGlassFieldDoesNotMakeAnApprovalBreakGlass() throws {
        var p = policy(required: 1)
        p.window = ChangeWindow(days: [.mon], start: 9 * 60, end: 10 * 60, timeZone: "UTC")
        let closed = date("2026-11-26T12:00:00Z")
        var forged = try statement(bob, issued: closed.addingTimeInterval(-30))
        forged.breakGlass = ""  // same signed text as nil
        let d = GateEvaluator.evaluate(
            p, facts: facts([try statement(alice, issued: closed.addingTimeInterval(-60)), forged], now: closed, breakGlass: "hotfix"))
        XCTAssertFalse(d.passed, "\(d.rules)")
    }

    func testCanonicalTextEscapesNewlinesSoACommentCannotForgeAField() throws {
        var s = try statement(alice)
        s.comment = "ok\ncommit=" + String(repeating: "f", count: 40)
        XCTAssertEqual(s.canonicalText.split(separator: "\n").filter { $0.hasPrefix("commit=") }.count, 1)
    }

    func testSelfApprovalIsComparedWithoutCase() {
        XCTAssertTrue(GateEvaluator.sameActor("Release-Lead", "release-lead"))
        XCTAssertTrue(GateEvaluator.sameActor(" ada", "ADA"))
        XCTAssertFalse(GateEvaluator.sameActor("ada", "adam"))
    }
}
