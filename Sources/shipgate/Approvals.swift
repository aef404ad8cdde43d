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
            commandName: "keygen",
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

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "approve",
            abstract: "Sign an approval of a blocked deploy: this run's commit, pipeline and artifacts, for one environment.",
            discussion:
                "The approver is the keyring entry whose public key matches --key (or, with --server, the console user the token belongs to). Then `shipgate resume RUN`."
        )

        @OptionGroup var signing: SigningOptions

        @Option(help: "Also allow overriding a change window or freeze (the run must use --break-glass too).")
        var breakGlass: String?

        func validate() throws {
            if let breakGlass, breakGlass.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--break-glass needs a reason") }
        }

        func run() async throws { try await signing.sign(.approve, breakGlass: breakGlass) }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reject",
            abstract: "Sign a rejection of a deploy: it blocks until a later round of approvals.")

        @OptionGroup var signing: SigningOptions

        func run() async throws { try await signing.sign(.reject, breakGlass: nil) }
    }

    struct Approvals: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "approvals", abstract: "List deploys waiting for approval, and the approvals recorded.")

        @Flag(help: "Only gates that are still blocked.")
        var pending = false

        @Flag(help: "JSON output.")
        var json = false

        @OptionGroup var policy: PolicyOptions

        @OptionGroup var state: StateOptions

        /// Statements are shown as approvals only when they verify against the keyring gates use
        /// (the trusted ref's); others are listed as unverified statements, under `unverified` in JSON.
        func run() async throws {
            let store = try await state.open()
            var keyrings: [String: Keyring] = [:]
            var gates = try await store.blockedGates()
            if !pending {
                for run in try await store.runs(limit: 50) { gates += try await store.gates(ofRun: run.id).filter { $0.status != "blocked" } }
            }
            var items: [[String: Any]] = []
            var text = ""
            for g in gates {
                let run = try? await store.run(g.runID)
                let near = run.map { $0.localPipelineFile } ?? FileManager.default.currentDirectoryPath + "/shipgate.yml"
                if keyrings[near] == nil {
                    keyrings[near] = ApprovalRecords.keyring(near: near, trustRef: policy.resolvedTrustRef, keyringPath: policy.keyringPath)
                }
                let statements = await ApprovalRecords.statements(store: store, runID: g.runID, environment: g.environment, commit: g.commitID)
                let shown = statements.map { ShownStatement($0, keyring: keyrings[near]!) }
                let age = StateTime.date(g.requestedAt).map { Format.duration(ms: Int64(Date().timeIntervalSince($0) * 1000)) } ?? "?"
                let waiting = Self.waitingFor(g)
                items.append([
                    "run": g.runID, "job": g.job, "environment": g.environment, "status": g.status, "commit": g.commitID ?? "",
                    "version": run?.version ?? "", "requestedBy": g.requestedBy, "requestedAt": g.requestedAt, "waitingFor": waiting,
                    "approvals": shown.filter(\.verified).map(\.jsonObject), "unverified": shown.filter { !$0.verified }.map(\.jsonObject),
                ])
                text += "\(g.status == "blocked" ? "⛔" : "✓") \(g.environment)  run \(g.runID)  \(g.job)\n"
                text +=
                    "    commit \(g.commitID.map { String($0.prefix(12)) } ?? "-")  version \(run?.version ?? "-")  requested by \(g.requestedBy), \(age) ago\n"
                if !waiting.isEmpty { text += "    waiting for: \(waiting.joined(separator: "; "))\n" }
                for a in shown {
                    text += "    \(a.label) at \(a.statement.issuedAt)" + (a.problem.map { ": \($0); it does not count" } ?? "") + "\n"
                }
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

/// What `approve` and `reject` share: which run, environment and key (or console).
struct SigningOptions: ParsableArguments {
    @Argument(help: "The run id (or a unique prefix, or `last`).")
    var run: String

    @Option(help: "The environment whose gate this decides.")
    var env: String

    @Option(help: "Your private key file (from `shipgate keygen`); not used with --server.", completion: .file())
    var key: String?

    @Option(help: "A comment, signed with the statement.")
    var comment: String?

    @Option(help: "Also write the signed statement to this file (for `run --approval FILE` on another machine).", completion: .file())
    var out: String?

    @Option(
        help: "Decide through a release console (`shipgate serve`) at this URL instead of with a local key; it signs for your user.")
    var server: String?

    @Option(help: "File holding your console API token (default: env SHIPGATE_TOKEN); from `shipgate user token`.", completion: .file())
    var tokenFile: String?

    @OptionGroup var policyOptions: PolicyOptions

    @OptionGroup var state: StateOptions

    func validate() throws {
        if server == nil, key == nil { throw ValidationError("give --key FILE (your private key), or --server URL to decide through a console") }
        if server != nil, key != nil { throw ValidationError("--key and --server exclude each other: the console signs for you") }
        if server != nil, out != nil { throw ValidationError("--out needs --key: a console keeps the statement it signs") }
    }

    func sign(_ decision: ApprovalStatement.Decision, breakGlass: String?) async throws {
        if let server {
            try await ConsoleClient.decide(
                server: server, tokenFile: tokenFile, run: run, environment: env, decision: decision, comment: comment, breakGlass: breakGlass)
            return
        }
        let store = try await state.open()
        let row = try await state.run(run, in: store)
        let approver: ApproverKey
        do { approver = try ApproverKey.read(path: key ?? "") } catch { throw fail("\(error)") }
        let pipelineFile = row.localPipelineFile
        guard let pipeline = PipelineLoader.load(path: pipelineFile).pipeline else {
            throw fail("cannot load \(pipelineFile), the pipeline of run \(row.id)", hint: "run `approve` in a checkout of the repository the run came from")
        }
        let policy = TrustedPolicy.load(
            pipeline: pipeline, pipelinePath: pipelineFile, trustRef: policyOptions.resolvedTrustRef, keyringPath: policyOptions.keyringPath)
        let now = GateClock.resolve(style: Terminal.stderrStyle)()
        let statement: ApprovalStatement
        do {
            statement = try await ApprovalSigner(store: store, policy: policy, now: now).sign(
                decision, run: row, environment: env, signer: .approver(approver), comment: comment, breakGlass: breakGlass)
        } catch let e as ReleaseError { throw fail(e.message, hint: e.hint) }
        if let out {
            do { try statement.json().write(toFile: out, atomically: true, encoding: .utf8) } catch {
                throw fail("cannot write \(out): \(error.localizedDescription)")
            }
        }
        let verb = decision == .approve ? "approved" : "rejected"
        print("\(statement.approver) \(verb) the \(env) deploy of run \(row.id)")
        print("  commit \(statement.commit.prefix(12))  version \(row.version ?? "-")  expires \(statement.expiresAt)")
        for (job, digest) in statement.artifacts.sorted(by: { $0.key < $1.key }) { print("  artifacts of \(job): \(digest.prefix(19))…") }
        if let out { print("  statement written to \(out) (pass it to `run --approval` / `resume --approval`)") }
        print(
            decision == .approve
                ? "next: shipgate resume \(row.id)   (it deploys once the gate has enough approvals)"
                : "the deploy stays blocked until a later round of approvals")
    }
}
