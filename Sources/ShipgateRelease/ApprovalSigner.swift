import Foundation
import ShipgateGate
import ShipgateState

/// A refused request, with what to do about it.
public struct ReleaseError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { message }
}

/// Signs and records one approval or rejection of a deploy: what `shipgate approve` and the
/// release console share, so both apply the same rules.
///
/// Contract: the statement names the gate's exact commit, pipeline digest and artifact
/// digests; the approver is a name of the trusted keyring; self-approval and approvers outside
/// `approvals.from` are refused before signing; the statement and its audit entry are stored in
/// one transaction, both or neither (the audit entry names the console too when one signed).
public struct ApprovalSigner {
    /// Who signs: an approver with their own key, or a console key on behalf of an approver.
    public enum Signer {
        case approver(ApproverKey)
        case console(key: ApproverKey, name: String, approver: String)
    }

    public var store: any StateStore
    public var policy: TrustedPolicy
    public var now: Date

    public init(store: any StateStore, policy: TrustedPolicy, now: Date) {
        self.store = store
        self.policy = policy
        self.now = now
    }

    /// The gate a decision is about: the blocked one of this run and environment, else the latest.
    public static func gate(store: any StateStore, run: RunRow, environment: String) async throws -> GateRow {
        let all = try await store.gates(ofRun: run.id)
        let gates = all.filter { $0.environment == environment }
        guard let gate = gates.first(where: { $0.status == "blocked" }) ?? gates.first else {
            let envs = Set(all.map(\.environment)).sorted()
            throw ReleaseError(
                "run \(run.id) has not asked to deploy to \(environment)",
                hint: envs.isEmpty
                    ? "only a run that reached a deploy job can be approved; see `shipgate status \(run.id)`" : "its gates: \(envs.joined(separator: ", "))")
        }
        return gate
    }

    public func sign(
        _ decision: ApprovalStatement.Decision, run: RunRow, environment env: String, signer: Signer, comment: String?, breakGlass: String?
    ) async throws -> ApprovalStatement {
        let gate = try await Self.gate(store: store, run: run, environment: env)
        guard let commit = gate.commitID else { throw ReleaseError("run \(run.id) has no commit (it ran outside git), so it cannot be approved") }
        let name: String
        var console: (key: ApproverKey, name: String)?
        switch signer {
        case .approver(let key):
            // The approver is whoever the trusted keyring says owns this key.
            let publicKey = key.privateKey.publicKey.rawRepresentation
            guard let owner = policy.keyring.keys.first(where: { $0.value == publicKey })?.key else {
                throw ReleaseError(
                    "this key (\(key.name)) is not in the trusted keyring (\(policy.source))",
                    hint: "add `\(key.keyringLine)` to the keyring and merge it; keys in the working tree do not count")
            }
            name = owner
        case .console(let key, let consoleName, let approver):
            guard policy.keyring.keys[approver] != nil else {
                throw ReleaseError(
                    "\(approver) is not an approver in the trusted keyring (\(policy.source))", hint: "add their key with `shipgate keygen` and merge it")
            }
            guard policy.keyring.consoles[consoleName] == key.privateKey.publicKey.rawRepresentation else {
                throw ReleaseError(
                    "this console's key (\(consoleName)) is not in the trusted keyring's `consoles:` (\(policy.source)), so its approvals would not count",
                    hint: "add `consoles: {\(consoleName): \"\(key.publicKeyText)\"}` to the keyring and merge it")
            }
            name = approver
            console = (key, consoleName)
        }
        let envPolicy = policy.environments[env]
        if decision == .approve, name == run.actor, envPolicy?.approvals?.allowSelfApproval != true {
            throw ReleaseError("\(name) started run \(run.id): self-approval does not count for \(env)", hint: "ask another approver")
        }
        if decision == .approve, let from = envPolicy?.approvals?.from, !from.isEmpty, !from.contains(name) {
            throw ReleaseError("\(name) may not approve \(env) deploys (allowed: \(from.joined(separator: ", ")))")
        }
        let artifacts = (try? JSONDecoder().decode([String: String].self, from: Data(gate.artifacts.utf8))) ?? [:]
        let expire = envPolicy?.approvals?.expire ?? .minutes(24 * 60)
        var statement = ApprovalStatement(
            decision: decision, runID: run.id, pipelineDigest: gate.pipelineDigest, environment: env, commit: commit, artifacts: artifacts,
            approver: name, issuedAt: now, expiresAt: now.addingTimeInterval(Double(expire.milliseconds) / 1000), breakGlass: breakGlass,
            comment: comment, signedBy: console?.name)
        do {
            switch signer {
            case .approver(let key): try statement.sign(with: key)
            case .console(let key, _, _): try statement.sign(with: key)
            }
        } catch { throw ReleaseError("cannot sign: \(error)") }
        var detail = ["approver": name, "commit": commit, "artifacts": DeployController.json(artifacts), "expiresAt": statement.expiresAt]
        if let comment { detail["comment"] = comment }
        if let breakGlass { detail["breakGlass"] = breakGlass }
        if let console { detail["signedBy"] = "console \(console.name) on behalf of \(name)" }
        // One transaction: an approval whose audit entry cannot be written is not stored, so it never counts.
        let event = AuditEvent(kind: decision == .approve ? "approve" : "reject", actor: name, environment: env, runID: run.id, detail: detail)
        do { try await store.saveApproval(ApprovalRecords.row(statement), audit: event) } catch {
            throw ReleaseError(
                "cannot record the \(decision == .approve ? "approval" : "rejection") in \(store.location): \(error)",
                hint: "nothing was recorded, so it does not count; make the state store writable and sign again")
        }
        return statement
    }
}
