import Foundation
import ShipgateLoading
import ShipgateModel
import XCTest

@testable import ShipgateGate

/// Approvals a release console signs on behalf of a logged-in approver: they count only when
/// that console's key is in the trusted keyring's `consoles:`, and every edit still voids them.
final class ConsoleSignatureTests: XCTestCase {
    let at = SourceLocation(file: "p.yml", line: 1, column: 1)
    let alice = ApproverKey(name: "alice")
    let console = ApproverKey(name: "console-1")
    let rogue = ApproverKey(name: "console-1")  // same name, another key
    let commit = String(repeating: "a", count: 40)
    let now = Date(timeIntervalSince1970: 1_795_000_000)

    var policy: EnvironmentPolicy {
        EnvironmentPolicy(name: "prod", location: at, approvals: ApprovalPolicy(required: 1, from: ["alice"], allowSelfApproval: false))
    }

    func keyring(trustingConsole: Bool = true) -> Keyring {
        Keyring(
            keys: ["alice": alice.privateKey.publicKey.rawRepresentation],
            consoles: trustingConsole ? ["console-1": console.privateKey.publicKey.rawRepresentation] : [:])
    }

    func statement(signedWith key: ApproverKey, signedBy: String? = "console-1", approver: String = "alice") throws -> ApprovalStatement {
        var s = ApprovalStatement(
            decision: .approve, runID: "r1", pipelineDigest: "sha256:p", environment: "prod", commit: commit, artifacts: ["build": "sha256:1"],
            approver: approver, issuedAt: now.addingTimeInterval(-60), expiresAt: now.addingTimeInterval(3600), comment: "ok", signedBy: signedBy)
        try s.sign(with: key)
        return s
    }

    func decide(_ s: ApprovalStatement, keyring: Keyring? = nil, actor: String = "dev") -> GateDecision {
        let request = DeployRequest(
            runID: "r1", pipelineDigest: "sha256:p", environment: "prod", commit: commit, artifacts: ["build": "sha256:1"], actor: actor)
        return GateEvaluator.evaluate(
            policy,
            facts: GateFacts(
                request: request, branch: "main", tags: [], hasGit: true, jobStatuses: [:], promotedRelease: nil, approvals: [s],
                keyring: keyring ?? self.keyring(), now: now, breakGlass: nil))
    }

    func testATrustedConsoleSignatureCountsForTheApprover() throws {
        let d = decide(try statement(signedWith: console))
        XCTAssertTrue(d.passed, "\(d.rules) \(d.refused)")
        XCTAssertEqual(d.approvedBy, ["alice"])
    }

    func testAConsoleOutsideTheKeyringDoesNotCount() throws {
        let d = decide(try statement(signedWith: console), keyring: keyring(trustingConsole: false))
        XCTAssertFalse(d.passed)
        XCTAssertEqual(d.refused.first?.reason, ApprovalProblem.unknownConsole("console-1").description)
    }

    func testAnotherKeyUnderTheConsolesNameDoesNotCount() throws {
        let d = decide(try statement(signedWith: rogue))
        XCTAssertFalse(d.passed)
        XCTAssertTrue(d.refused.first?.reason.hasPrefix("bad signature") ?? false, "\(d.refused)")
    }

    func testRemovingOrEditingSignedByVoidsTheStatement() throws {
        var stripped = try statement(signedWith: console)
        stripped.signedBy = nil  // now checked against alice's own key, which did not sign it
        XCTAssertFalse(decide(stripped).passed)
        var renamed = try statement(signedWith: console)
        renamed.approver = "bob"
        XCTAssertFalse(decide(renamed).passed)
    }

    func testTheConsoleCannotApproveForSomeoneOutsideTheKeyring() throws {
        let d = decide(try statement(signedWith: console, approver: "mallory"))
        XCTAssertFalse(d.passed)
        XCTAssertTrue(d.refused.first?.reason.hasPrefix("unknown approver") ?? false)
    }

    func testSelfApprovalRulesStillApply() throws {
        let d = decide(try statement(signedWith: console), actor: "alice")
        XCTAssertFalse(d.passed)
        XCTAssertTrue(d.refused.first?.reason.hasPrefix("self-approval") ?? false)
    }

    func testStatementsWithoutSignedByKeepTheirCanonicalText() throws {
        let own = try statement(signedWith: alice, signedBy: nil)
        XCTAssertFalse(own.canonicalText.contains("signed-by"))
        XCTAssertTrue(decide(own).passed)
        XCTAssertTrue(try statement(signedWith: console).canonicalText.hasSuffix("signed-by=console-1\n"))
    }

    func testTheKeyringFileHasAConsolesSection() {
        let text = """
            alice: "\(alice.publicKeyText)"
            consoles:
              console-1: "\(console.publicKeyText)"
            """
        let (entries, diagnostics) = KeyringLoader.parse(bytes: Array(text.utf8), file: "approvers.yml")
        XCTAssertEqual(diagnostics, [])
        let (ring, problems) = Keyring.parse(entries.map { ($0.name, $0.value, $0.line, $0.console) }, file: "approvers.yml")
        XCTAssertEqual(problems, [])
        XCTAssertEqual(ring.keys.keys.sorted(), ["alice"])
        XCTAssertEqual(ring.consoles["console-1"], console.privateKey.publicKey.rawRepresentation)

        let bad = KeyringLoader.parse(bytes: Array("consoles: [a, b]\n".utf8), file: "approvers.yml").1
        XCTAssertEqual(bad.count, 1)
        XCTAssertTrue(bad.first.map { "\($0)".contains("approvers.yml:1:11") } ?? false, "\(bad)")
    }
}
