import Foundation
import ShipgateGate
import ShipgateModel

/// Who may roll an environment back by hand: the one rule for `shipgate rollback` and the
/// console's "Roll back".
///
/// Rule: for an environment with `approvals`, an approver allowed to approve its deploys
/// (in the trusted keyring and, when `from` is set, listed there); for another protected
/// environment, any approver of the trusted keyring; an unprotected environment, anyone who may
/// run deploys. The approver is proven by a signature with their key (CLI `--key`) or by the
/// console's login (its user's approver name).
public enum RollbackAuthority {
    /// Why `approver` may not roll `environment` back, or nil when they may.
    public static func failure(approver: String?, environment: String, policy: TrustedPolicy) -> String? {
        if let problem = policy.failure(for: environment) { return "the trusted policy is unusable: \(problem)" }
        guard let env = policy.environments[environment] else {
            return "environment \(environment) is not declared on \(policy.source)"
        }
        guard env.isProtected else { return nil }
        guard let approver else {
            return "\(environment) is protected: a rollback needs an approver's key (--key FILE) or the release console"
        }
        guard policy.keyring.keys[approver] != nil else { return "\(approver) is not in the trusted keyring (\(policy.source))" }
        if let from = env.approvals?.from, !from.isEmpty, !from.contains(approver) {
            return "\(approver) may not approve \(environment) deploys (allowed: \(from.joined(separator: ", "))), so may not roll it back"
        }
        return nil
    }

    /// The bytes a CLI rollback request signs: what, where, by whom, when, why.
    public static func requestBytes(environment: String, target: String, actor: String, issuedAt: String, reason: String) -> Data {
        Data(["shipgate-rollback-v1", environment, target, actor, issuedAt, reason].joined(separator: "\n").utf8)
    }

    /// The keyring name of whoever signed `bytes` with `key`, if the key is in the keyring.
    public static func approver(of key: ApproverKey, signing bytes: Data, keyring: Keyring) -> (name: String, signature: String)? {
        guard let signature = try? key.sign(bytes), let name = keyring.signer(of: signature, bytes: bytes) else { return nil }
        return (name, signature.base64EncodedString())
    }
}
