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

    @Option(help: "Override a change window or freeze; needs one extra approval marked --break-glass. Audited.")
    var breakGlass: String?

    @OptionGroup var policy: PolicyOptions

    @Option(help: "Give up waiting for an environment's deploy lock after this long.")
    var lockTimeout: String = "30m"

    func validate() throws {
        if let wait, TimeSpan.parse(wait) == nil { throw ValidationError("--wait must be a duration like 30s, 10m or 1h, got `\(wait)`") }
        if TimeSpan.parse(lockTimeout) == nil { throw ValidationError("--lock-timeout must be a duration like 30s, 10m or 1h, got `\(lockTimeout)`") }
        if let breakGlass, breakGlass.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--break-glass needs a reason") }
    }

    var waitSpan: TimeSpan? { wait.flatMap(TimeSpan.parse) }
    var lockTimeoutSpan: TimeSpan { TimeSpan.parse(lockTimeout) ?? .minutes(30) }

    var resolvedTrustRef: String? { policy.resolvedTrustRef }
    var keyringPath: String { policy.keyringPath }

    /// Reads `--approval` files into the state store; exits 2 on an unreadable file.
    @discardableResult
    func importApprovals(into store: any StateStore, actor: String, style: Style) throws -> [ApprovalStatement] {
        var imported: [ApprovalStatement] = []
        // SHIPGATE_APPROVALS: statements (one JSON object, or an array) from a CI variable.
        if let text = ProcessInfo.processInfo.environment["SHIPGATE_APPROVALS"], !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let data = Data(text.utf8)
            let statements: [ApprovalStatement]
            if let list = try? JSONDecoder().decode([ApprovalStatement].self, from: data) {
                statements = list
            } else if let one = try? ApprovalStatement.decode(data) {
                statements = [one]
            } else {
                FileDescriptorSink.standardError.write(
                    "\(style.red(style.bold("error:"))) SHIPGATE_APPROVALS is not an approval statement or a JSON array of them\n")
                throw ExitWith(code: Exit.invalid)
            }
            for statement in statements {
                imported.append(statement)
                if try store.saveApproval(ApprovalRecords.row(statement)) {
                    try store.audit(
                        kind: "approval-imported", actor: actor, environment: statement.environment, runID: statement.runID,
                        detail: [
                            "from": "SHIPGATE_APPROVALS", "approver": statement.approver, "decision": statement.decision.rawValue, "commit": statement.commit,
                        ])
                }
            }
        }
        for path in approvalFiles {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileDescriptorSink.standardError.write("\(style.red(style.bold("error:"))) cannot read approval file \(path)\n")
                throw ExitWith(code: Exit.invalid)
            }
            let statement: ApprovalStatement
            do { statement = try ApprovalStatement.decode(data) } catch {
                FileDescriptorSink.standardError.write("\(style.red(style.bold("error:"))) \(path): \(error)\n")
                throw ExitWith(code: Exit.invalid)
            }
            imported.append(statement)
            if try store.saveApproval(ApprovalRecords.row(statement)) {
                try store.audit(
                    kind: "approval-imported", actor: actor, environment: statement.environment, runID: statement.runID,
                    detail: ["file": path, "approver": statement.approver, "decision": statement.decision.rawValue, "commit": statement.commit])
            }
        }
        return imported
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
