import Crypto
import Foundation
import ShipgateModel

/// A signed approval or rejection of one deploy: what an approver saw and agreed to.
///
/// The signature covers `canonicalText`, which names every field. The gate recomputes it from
/// the fields, so changing any of them (the commit, the artifacts, the expiry, the comment)
/// makes the signature fail.
public struct ApprovalStatement: Codable, Sendable, Equatable {
    public enum Decision: String, Codable, Sendable {
        case approve
        case reject
    }

    public var format = "shipgate-approval-1"
    public var decision: Decision
    public var runID: String
    public var pipelineDigest: String
    public var environment: String
    public var commit: String
    /// Job id → SHA-256 of the artifact manifest the deploy job receives from it.
    public var artifacts: [String: String]
    public var approver: String
    /// ISO-8601 UTC.
    public var issuedAt: String
    public var expiresAt: String
    /// Set when this approval also allows overriding a change window or freeze.
    public var breakGlass: String?
    public var comment: String?
    /// Set when a release console signed for `approver` (who logged in to it): the console's
    /// name in the keyring's `consoles:` section. The signature is then the console's, and the
    /// gate counts it only if that console is in the trusted keyring.
    public var signedBy: String?
    /// Base64 Ed25519 signature over `canonicalText`.
    public var signature: String

    public init(
        decision: Decision, runID: String, pipelineDigest: String, environment: String, commit: String, artifacts: [String: String],
        approver: String, issuedAt: Date, expiresAt: Date, breakGlass: String? = nil, comment: String? = nil, signedBy: String? = nil
    ) {
        self.signedBy = signedBy
        self.decision = decision
        self.runID = runID
        self.pipelineDigest = pipelineDigest
        self.environment = environment
        self.commit = commit
        self.artifacts = artifacts
        self.approver = approver
        self.issuedAt = GateTime.string(issuedAt)
        self.expiresAt = GateTime.string(expiresAt)
        self.breakGlass = breakGlass
        self.comment = comment
        self.signature = ""
    }

    /// The signed bytes: one `key=value` line per field in a fixed order, values escaped so a
    /// newline in a comment cannot forge another line. `signed-by` is a line only when set, so
    /// statements signed by an approver's own key keep the text they always had.
    public var canonicalText: String {
        func esc(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n") }
        let arts = artifacts.sorted { $0.key < $1.key }.map { "\(esc($0.key))=\(esc($0.value))" }.joined(separator: ";")
        return [
            "format=\(esc(format))", "decision=\(decision.rawValue)", "run=\(esc(runID))", "pipeline=\(esc(pipelineDigest))",
            "environment=\(esc(environment))", "commit=\(esc(commit))", "artifacts=\(arts)", "approver=\(esc(approver))",
            "issued=\(esc(issuedAt))", "expires=\(esc(expiresAt))", "break-glass=\(esc(breakGlass ?? ""))", "comment=\(esc(comment ?? ""))",
        ].joined(separator: "\n") + "\n" + (signedBy.map { "signed-by=\(esc($0))\n" } ?? "")
    }

    public mutating func sign(with key: ApproverKey) throws {
        signature = try key.sign(Data(canonicalText.utf8)).base64EncodedString()
    }

    /// Pretty JSON for `--out` files; `decode` reads it back.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self) + "\n"
    }

    public static func decode(_ data: Data) throws -> ApprovalStatement {
        do { return try JSONDecoder().decode(ApprovalStatement.self, from: data) } catch {
            throw KeyError("not a shipgate approval statement: \(error)")
        }
    }

    /// SHA-256 of the signed text and signature: identifies this statement.
    public var digest: String {
        Hex.string(SHA256.hash(data: Data((canonicalText + signature).utf8)))
    }

    public var issued: Date? { GateTime.date(issuedAt) }
    public var expires: Date? { GateTime.date(expiresAt) }
}

/// What a gate is asked to let through: the facts an approval must name.
public struct DeployRequest: Sendable, Equatable, Codable {
    public var runID: String
    public var pipelineDigest: String
    public var environment: String
    public var commit: String?
    public var artifacts: [String: String]
    public var actor: String

    public init(runID: String, pipelineDigest: String, environment: String, commit: String?, artifacts: [String: String], actor: String) {
        self.runID = runID
        self.pipelineDigest = pipelineDigest
        self.environment = environment
        self.commit = commit
        self.artifacts = artifacts
        self.actor = actor
    }
}

/// Why an approval does not count.
public enum ApprovalProblem: Equatable, Sendable, CustomStringConvertible {
    case badSignature
    case unknownApprover
    case unknownConsole(String)
    case notAllowed(from: [String])
    case selfApproval
    case expired(at: String)
    case notYetValid
    case differentEnvironment(String)
    case differentCommit(String)
    case differentPipeline
    case artifactsChanged([String])
    case supersededByRejection(by: String)

    public var description: String {
        switch self {
        case .badSignature: "bad signature: the statement was altered or not signed by this approver's key"
        case .unknownApprover: "unknown approver: not in the trusted keyring"
        case .unknownConsole(let c): "signed by console \(c), which is not in the trusted keyring's `consoles:`"
        case .notAllowed(let from): "not an approver for this environment (allowed: \(from.joined(separator: ", ")))"
        case .selfApproval: "self-approval: the approver is the actor of the run"
        case .expired(let at): "expired at \(at)"
        case .notYetValid: "issued in the future"
        case .differentEnvironment(let e): "for environment \(e)"
        case .differentCommit(let c): "for a different commit (\(c.prefix(12)))"
        case .differentPipeline: "for a different pipeline file (its digest changed)"
        case .artifactsChanged(let jobs): "artifacts changed since approval (\(jobs.joined(separator: ", ")))"
        case .supersededByRejection(let by): "superseded by a later rejection from \(by)"
        }
    }
}

/// ISO-8601 in UTC, seconds precision.
public enum GateTime {
    public static func string(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    public static func date(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)
    }
}
