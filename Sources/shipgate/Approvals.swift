import ArgumentParser
import Foundation
import ShipgateGate
import ShipgateLoading
import ShipgateModel
import ShipgateRelease
import ShipgateReport
import ShipgateState

extension Shipgate {
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an approver's Ed25519 key pair and print its keyring line.",
            discussion: "Writes DIR/NAME.key (mode 600) and DIR/NAME.pub. Add the printed line to pipelines/approvers.yml and merge it.")

        @Argument(help: "Approver name, as it will appear in the keyring and in `approvals.from`.")
        var name: String

        @Option(help: "Where to write the key files (default: ~/.config/shipgate/keys).", completion: .directory)
        var dir: String?

        func validate() throws {
            guard let first = name.first, first.isLetter, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ValidationError("approver name `\(name)` must start with a letter and use letters, digits, `-`, `_`, `.`")
            }
        }

        func run() throws {
            let directory = dir ?? (NSHomeDirectory() as NSString).appendingPathComponent(".config/shipgate/keys")
            let key = ApproverKey(name: name)
            let paths: (privatePath: String, publicPath: String)
            do { paths = try key.write(directory: directory) } catch { throw fail("\(error)") }
            let style = Terminal.stderrStyle
            FileDescriptorSink.standardError.write(
                style.dim(
                    "private key: \(paths.privatePath) (mode 600; keep it secret)\npublic key:  \(paths.publicPath)\nadd this line to pipelines/approvers.yml and merge it:"
                ) + "\n")
            print(key.keyringLine)
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign an approval of a blocked deploy: this run's commit, pipeline and artifacts, for one environment.",
            discussion: "The approver is the keyring entry whose public key matches --key. Then `shipgate resume RUN`.")

        @OptionGroup var signing: SigningOptions

        @Option(help: "Also allow overriding a change window or freeze (the run must use --break-glass too).")
        var breakGlass: String?

        func validate() throws {
            if let breakGlass, breakGlass.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--break-glass needs a reason") }
        }

        func run() throws { try signing.sign(.approve, breakGlass: breakGlass) }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a rejection of a deploy: it blocks until a later round of approvals.")

        @OptionGroup var signing: SigningOptions

        func run() throws { try signing.sign(.reject, breakGlass: nil) }
    }

    struct Approvals: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deploys waiting for approval, and the approvals recorded.")

        @Flag(help: "Only gates that are still blocked.")
        var pending = false

        @Flag(help: "JSON output.")
        var json = false

        @OptionGroup var state: StateOptions

        func run() throws {
            let store = try state.open()
            let gates =
                try pending
                ? store.blockedGates()
                : store.blockedGates() + (try store.runs(limit: 50)).flatMap { try store.gates(ofRun: $0.id) }.filter { $0.status != "blocked" }
            var items: [[String: Any]] = []
            var text = ""
            for g in gates {
                let approvals = g.commitID.map { (try? store.approvals(environment: g.environment, commitID: $0)) ?? [] } ?? []
                let run = try? store.run(g.runID)
                let age = StateTime.date(g.requestedAt).map { Format.duration(ms: Int64(Date().timeIntervalSince($0) * 1000)) } ?? "?"
                let waiting = Self.waitingFor(g)
                items.append([
                    "run": g.runID, "job": g.job, "environment": g.environment, "status": g.status, "commit": g.commitID ?? "",
                    "version": run?.version ?? "", "requestedBy": g.requestedBy, "requestedAt": g.requestedAt, "waitingFor": waiting,
                    "approvals": approvals.map { ["approver": $0.approver, "decision": $0.decision, "issuedAt": $0.issuedAt] },
                ])
                text += "\(g.status == "blocked" ? "⛔" : "✓") \(g.environment)  run \(g.runID)  \(g.job)\n"
                text +=
                    "    commit \(g.commitID.map { String($0.prefix(12)) } ?? "-")  version \(run?.version ?? "-")  requested by \(g.requestedBy), \(age) ago\n"
                if !waiting.isEmpty { text += "    waiting for: \(waiting.joined(separator: "; "))\n" }
                for a in approvals { text += "    \(a.decision == "approve" ? "approved" : "REJECTED") by \(a.approver) at \(a.issuedAt)\n" }
                if g.status == "blocked" { text += "    → shipgate approve \(g.runID) --env \(g.environment) --key KEYFILE\n" }
            }
            if json {
                let data = try JSONSerialization.data(withJSONObject: items, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(
                    text.isEmpty ? (pending ? "No deploy is waiting for approval." : "No gate has been evaluated yet.") : text,
                    terminator: text.isEmpty ? "\n" : "")
            }
        }

        /// The failing rules of the recorded decision.
        static func waitingFor(_ gate: GateRow) -> [String] {
            guard let d = try? JSONDecoder().decode(GateDecision.self, from: Data(gate.decision.utf8)) else { return [] }
            return d.failures.map { "\($0.rule): \($0.detail)" }
        }
    }
}

/// What `approve` and `reject` share: which run, environment and key.
struct SigningOptions: ParsableArguments {
    @Argument(help: "The run id (or a unique prefix, or `last`).")
    var run: String

    @Option(help: "The environment whose gate this decides.")
    var env: String

    @Option(help: "Your private key file (from `shipgate keygen`).", completion: .file())
    var key: String

    @Option(help: "A comment, signed with the statement.")
    var comment: String?

    @Option(help: "Also write the signed statement to this file (for `run --approval FILE` on another machine).", completion: .file())
    var out: String?

    @OptionGroup var policyOptions: PolicyOptions

    @OptionGroup var state: StateOptions

    func sign(_ decision: ApprovalStatement.Decision, breakGlass: String?) throws {
        let store = try state.open()
        let row = try state.run(run, in: store)
        let gates = try store.gates(ofRun: row.id).filter { $0.environment == env }
        guard let gate = gates.first(where: { $0.status == "blocked" }) ?? gates.first else {
            let envs = Set(try store.gates(ofRun: row.id).map(\.environment)).sorted()
            throw fail(
                "run \(row.id) has not asked to deploy to \(env)",
                hint: envs.isEmpty
                    ? "only a run that reached a deploy job can be approved; see `shipgate status \(row.id)`" : "its gates: \(envs.joined(separator: ", "))")
        }
        guard let commit = gate.commitID else { throw fail("run \(row.id) has no commit (it ran outside git), so it cannot be approved") }
        let approver: ApproverKey
        do { approver = try ApproverKey.read(path: key) } catch { throw fail("\(error)") }

        // The approver is whoever the trusted keyring says owns this key.
        let pipelineFile = row.localPipelineFile
        let pipeline = PipelineLoader.load(path: pipelineFile).pipeline
        let policy = pipeline.map {
            TrustedPolicy.load(
                pipeline: $0, pipelinePath: pipelineFile,
                trustRef: policyOptions.resolvedTrustRef, keyringPath: policyOptions.keyringPath)
        }
        guard let policy else {
            throw fail("cannot load \(pipelineFile), the pipeline of run \(row.id)", hint: "run `approve` in a checkout of the repository the run came from")
        }
        let publicKey = approver.privateKey.publicKey.rawRepresentation
        guard let name = policy.keyring.keys.first(where: { $0.value == publicKey })?.key else {
            throw fail(
                "this key (\(approver.name)) is not in the trusted keyring (\(policy.source))",
                hint: "add `\(approver.keyringLine)` to the keyring and merge it; keys in the working tree do not count")
        }
        let envPolicy = policy.environments[env]
        if decision == .approve, name == row.actor, envPolicy?.approvals?.allowSelfApproval != true {
            throw fail("\(name) started run \(row.id): self-approval does not count for \(env)", hint: "ask another approver")
        }
        if decision == .approve, let from = envPolicy?.approvals?.from, !from.isEmpty, !from.contains(name) {
            throw fail("\(name) may not approve \(env) deploys (allowed: \(from.joined(separator: ", ")))")
        }
        let artifacts = (try? JSONDecoder().decode([String: String].self, from: Data(gate.artifacts.utf8))) ?? [:]
        let now = GateClock.resolve(style: Terminal.stderrStyle)()
        let expire = envPolicy?.approvals?.expire ?? .minutes(24 * 60)
        var statement = ApprovalStatement(
            decision: decision, runID: row.id, pipelineDigest: gate.pipelineDigest, environment: env, commit: commit, artifacts: artifacts,
            approver: name, issuedAt: now, expiresAt: now.addingTimeInterval(Double(expire.milliseconds) / 1000), breakGlass: breakGlass,
            comment: comment)
        do { try statement.sign(with: approver) } catch { throw fail("cannot sign: \(error)") }
        try store.saveApproval(ApprovalRecords.row(statement))
        var detail = ["approver": name, "commit": commit, "artifacts": DeployController.json(artifacts), "expiresAt": statement.expiresAt]
        if let comment { detail["comment"] = comment }
        if let breakGlass { detail["breakGlass"] = breakGlass }
        try store.audit(kind: decision == .approve ? "approve" : "reject", actor: name, environment: env, runID: row.id, detail: detail)
        if let out {
            do { try statement.json().write(toFile: out, atomically: true, encoding: .utf8) } catch {
                throw fail("cannot write \(out): \(error.localizedDescription)")
            }
        }
        let verb = decision == .approve ? "approved" : "rejected"
        print("\(name) \(verb) the \(env) deploy of run \(row.id)")
        print("  commit \(commit.prefix(12))  version \(row.version ?? "-")  expires \(statement.expiresAt)")
        for (job, digest) in artifacts.sorted(by: { $0.key < $1.key }) { print("  artifacts of \(job): \(digest.prefix(19))…") }
        if let out { print("  statement written to \(out) (pass it to `run --approval` / `resume --approval`)") }
        print(
            decision == .approve
                ? "next: shipgate resume \(row.id)   (it deploys once the gate has enough approvals)"
                : "the deploy stays blocked until a later round of approvals")
    }
}
