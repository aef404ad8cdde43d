import ArgumentParser
import Foundation
import ShipgateGate
import ShipgateModel
import ShipgateRelease
import ShipgateReport
import ShipgateState

/// Flags of `run` and `resume` that concern deploy gates.
struct GateOptions: ParsableArguments {
    @Option(name: .customLong("approval"), help: "Import a signed approval or rejection file (from `approve --out`; repeatable).", completion: .file())
    var approvalFiles: [String] = []

    @Option(help: "Keep re-evaluating a blocked gate this long (e.g. 30m) instead of stopping at once.")
    var wait: String?

    @Option(help: "How often a blocked gate is evaluated again while --wait runs.")
    var pollInterval: String = "2s"

    @Option(help: "Override a change window or freeze; needs one extra approval marked --break-glass. Audited.")
    var breakGlass: String?

    @OptionGroup var policy: PolicyOptions

    @Option(help: "Give up waiting for an environment's deploy lock after this long.")
    var lockTimeout: String = "30m"

    func validate() throws {
        if let wait, TimeSpan.parse(wait) == nil { throw ValidationError("--wait must be a duration like 30s, 10m or 1h, got `\(wait)`") }
        if TimeSpan.parse(pollInterval).map({ $0.milliseconds > 0 }) != true {
            throw ValidationError("--poll-interval must be a positive duration like 500ms or 2s, got `\(pollInterval)`")
        }
        if TimeSpan.parse(lockTimeout) == nil { throw ValidationError("--lock-timeout must be a duration like 30s, 10m or 1h, got `\(lockTimeout)`") }
        if let breakGlass, breakGlass.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--break-glass needs a reason") }
    }

    var waitSpan: TimeSpan? { wait.flatMap(TimeSpan.parse) }
    var lockTimeoutSpan: TimeSpan { TimeSpan.parse(lockTimeout) ?? .minutes(30) }
    var pollIntervalSpan: TimeSpan { TimeSpan.parse(pollInterval) ?? .seconds(2) }

    var resolvedTrustRef: String? { policy.resolvedTrustRef }
    var keyringPath: String { policy.keyringPath }

    /// Reads `--approval` files and `SHIPGATE_APPROVALS` into the state store; exits 2 on an
    /// unreadable file. Each statement is checked against the keyring gates use: only one that
    /// verifies is audited as `approval-imported` naming its approver; any other is audited as
    /// `unverified-statement-imported` with the name it claims (`verified=false`). The gate
    /// checks every statement again either way.
    @discardableResult
    func importApprovals(into store: any StateStore, actor: String, style: Style) async throws -> [ApprovalStatement] {
        var sources: [(statement: ApprovalStatement, from: [String: String])] = []
        // SHIPGATE_APPROVALS: statements (one JSON object, or an array) from a CI variable.
        if let text = ProcessInfo.processInfo.environment["SHIPGATE_APPROVALS"], !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let data = Data(text.utf8)
            if let list = try? JSONDecoder().decode([ApprovalStatement].self, from: data) {
                sources += list.map { ($0, ["from": "SHIPGATE_APPROVALS"]) }
            } else if let one = try? ApprovalStatement.decode(data) {
                sources.append((one, ["from": "SHIPGATE_APPROVALS"]))
            } else {
                FileDescriptorSink.standardError.write(
                    "\(style.red(style.bold("error:"))) SHIPGATE_APPROVALS is not an approval statement or a JSON array of them\n")
                throw ExitWith(code: Exit.invalid)
            }
        }
        for path in approvalFiles {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileDescriptorSink.standardError.write("\(style.red(style.bold("error:"))) cannot read approval file \(path)\n")
                throw ExitWith(code: Exit.invalid)
            }
            do { sources.append((try ApprovalStatement.decode(data), ["file": path])) } catch {
                FileDescriptorSink.standardError.write("\(style.red(style.bold("error:"))) \(path): \(error)\n")
                throw ExitWith(code: Exit.invalid)
            }
        }
        guard !sources.isEmpty else { return [] }
        var keyrings: [String: Keyring] = [:]
        for (statement, from) in sources {
            // The keyring of the run the statement names, else of the repository here.
            let near = await (try? store.run(statement.runID))?.localPipelineFile ?? FileManager.default.currentDirectoryPath + "/shipgate.yml"
            if keyrings[near] == nil {
                keyrings[near] = ApprovalRecords.keyring(near: near, trustRef: resolvedTrustRef, keyringPath: keyringPath)
            }
            let shown = ShownStatement(statement, keyring: keyrings[near]!)
            var detail = from.merging(["decision": statement.decision.rawValue, "commit": statement.commit, "verified": String(shown.verified)]) { a, _ in a }
            if let problem = shown.problem {
                detail["claimedApprover"] = statement.approver
                detail["problem"] = problem.description
                FileDescriptorSink.standardError.write(
                    style.yellow(
                        "warning: \(from["file"] ?? "SHIPGATE_APPROVALS"): \(shown.label) does not verify against the trusted keyring (\(problem)); it does not count"
                    ) + "\n")
            } else {
                detail["approver"] = statement.approver
            }
            let event = AuditEvent(
                kind: shown.verified ? "approval-imported" : "unverified-statement-imported", actor: actor, environment: statement.environment,
                runID: statement.runID, detail: detail)
            try await store.saveApproval(ApprovalRecords.row(statement), audit: event)
        }
        return sources.map(\.statement)
    }
}

/// The clock gates use: the real one, unless a test sets `SHIPGATE_TEST_NOW` (ISO-8601).
/// Only debug builds honour it: a release build cannot be talked out of a window or freeze.
enum GateClock {
    static func resolve(style: Style) -> @Sendable () -> Date {
        #if DEBUG
            guard let text = ProcessInfo.processInfo.environment["SHIPGATE_TEST_NOW"], !text.isEmpty, let fixed = GateTime.date(text) else {
                return { Date() }
            }
            FileDescriptorSink.standardError.write(style.yellow("warning: SHIPGATE_TEST_NOW is set: gates see the time as \(text)") + "\n")
            let offset = fixed.timeIntervalSinceNow
            return { Date().addingTimeInterval(offset) }
        #else
            return { Date() }
        #endif
    }
}

/// Where the trusted policy comes from: `run`, `resume`, `plan`, `approve`.
struct PolicyOptions: ParsableArguments {
    @Option(help: "Ref whose policy and keyring gates enforce (default: SHIPGATE_TRUST_REF, else the default branch).")
    var trustRef: String?

    @Option(help: "Path of the approvers keyring in the repository (default: pipelines/approvers.yml; env SHIPGATE_KEYRING).")
    var keyring: String?

    var resolvedTrustRef: String? {
        trustRef ?? ProcessInfo.processInfo.environment["SHIPGATE_TRUST_REF"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var keyringPath: String {
        keyring ?? ProcessInfo.processInfo.environment["SHIPGATE_KEYRING"].flatMap { $0.isEmpty ? nil : $0 } ?? TrustedPolicy.defaultKeyring
    }
}
