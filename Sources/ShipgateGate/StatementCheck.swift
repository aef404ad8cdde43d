import Foundation

extension Keyring {
    /// Why `statement`'s signature does not verify against this keyring, or nil when it does.
    ///
    /// Contract: nil only when the approver is a name of this keyring and the signature over
    /// `canonicalText` is that approver's key, or (for `signedBy`) a key of this keyring's
    /// `consoles:`. Anything else is an unverified statement: whatever name it carries is a claim.
    public func signatureProblem(_ statement: ApprovalStatement) -> ApprovalProblem? {
        guard keys[statement.approver] != nil else { return .unknownApprover }
        let bytes = Data(statement.canonicalText.utf8)
        guard let signature = Data(base64Encoded: statement.signature) else { return .badSignature }
        if let console = statement.signedBy {
            guard consoles[console] != nil else { return .unknownConsole(console) }
            return verifyConsole(signature, of: bytes, by: console) ? nil : .badSignature
        }
        return verify(signature, of: bytes, by: statement.approver) ? nil : .badSignature
    }
}

extension ApprovalStatement {
    /// How to name this statement to people: as its approver's decision ("approved by alice")
    /// only when `verified`; otherwise as a claim ("unverified statement claiming alice (approve)").
    public func label(verified: Bool) -> String {
        guard verified else { return "unverified statement claiming \(approver) (\(decision.rawValue))" }
        return "\(decision == .approve ? "approved" : "REJECTED") by \(approver)"
    }
}

extension ApprovalProblem {
    /// Whether the problem is with the signature itself: the statement's approver is then only a claim.
    public var isSignatureProblem: Bool {
        switch self {
        case .badSignature, .unknownApprover, .unknownConsole: true
        default: false
        }
    }
}
