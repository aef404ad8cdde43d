import ArgumentParser
import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateGate
import ShipgateGit
import ShipgateHTTP
import ShipgateJobCache
import ShipgateModel
import ShipgateProcess
import ShipgateRelease
import ShipgateReport
import ShipgateState

extension Shipgate {
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Roll an environment back by hand to the previous (or a named) good release, using its retained artifacts.",
            discussion: """
                Runs the `rollback` steps of the job that made the target release, as the trusted ref declares it (never the \
                working tree's), with SHIPGATE_ROLLBACK_* describing the target. A protected environment needs an approver's \
                key (--key), like `approve`; the request is signed, checked against the trusted keyring and audited.
                """)

        @Option(help: "The environment to roll back.")
        var env: String

        @Option(help: "The release to return to (default: the good release before the current one).")
        var to: String?

        @OptionGroup var pipeline: PipelineOptions

        @Option(help: "Your approver private key (from `shipgate keygen`): needed for a protected environment.", completion: .file())
        var key: String?

        @Option(help: "A .env-style file of secret values (NAME=value).", completion: .file())
        var secretsFile: String?

        @Option(help: "Who rolls back (default: SHIPGATE_ACTOR, GITHUB_ACTOR, git user.name, OS user).")
        var actor: String?

        @Option(help: "Why: recorded in the audit log and on the release.")
        var reason: String?

        @OptionGroup var policy: PolicyOptions

        @Option(help: "Bazel-style HTTP cache holding the target's artifacts; env SHIPGATE_REMOTE_CACHE.")
        var remoteCache: String?

        @OptionGroup var state: StateOptions

        func run() async throws {
            let style = Terminal.stderrStyle
            let file = try pipeline.resolvedFile()
            let loaded = try pipeline.load(style: style)
            let home = Workspace(pipelineFile: file, stateDirectory: state.stateDir)
            var stateOptions = state
            stateOptions.stateDir = home.stateDirectory
            let store = try await stateOptions.open()
            let context = RunContext.resolve(workspace: home.root, environment: ProcessInfo.processInfo.environment, actor: actor)
            let trusted = TrustedPolicy.load(pipeline: loaded, pipelinePath: file, trustRef: policy.resolvedTrustRef, keyringPath: policy.keyringPath)
            let fileValues: [String: String]
            do { fileValues = try secretsFile.map(SecretSource.parseFile) ?? [:] } catch { throw fail("\(error)") }
            let withheld = SecretPolicy.environmentSecretNames(pipeline: loaded, policy: trusted)
            LaunchEnvironment.withhold(withheld.union(LaunchEnvironment.credentialNames))

            // Who asks: the approver whose key signs this request, if a key is given.
            let reasonText = reason ?? ""
            var approver: (name: String, signature: String)?
            if let key {
                let approverKey: ApproverKey
                do { approverKey = try ApproverKey.read(path: key) } catch { throw fail("\(error)") }
                let bytes = RollbackAuthority.requestBytes(
                    environment: env, target: to ?? "", actor: context.actor, issuedAt: StateTime.string(Date()), reason: reasonText)
                guard let signed = RollbackAuthority.approver(of: approverKey, signing: bytes, keyring: trusted.keyring) else {
                    throw fail("the key \(key) is not in the trusted keyring (\(trusted.source))", hint: "add its public key to the keyring on the trusted ref")
                }
                approver = signed
            }

            let remote = (remoteCache ?? LaunchEnvironment.values["SHIPGATE_REMOTE_CACHE"]).flatMap { $0.isEmpty ? nil : RemoteCache.http($0) }
            let cache = try? CacheContext(
                stateDirectory: home.stateDirectory, workspace: home.root, remote: nil, lookups: true, readOnly: true, trackedBlobID: nil)
            let supervision = RunSupervision()
            defer { supervision.end() }
            let rollback = ManualRollback(
                .init(
                    environment: env, to: to, actor: context.actor, approver: approver?.name, signature: approver?.signature, reason: reasonText,
                    via: "cli"),
                setting: .init(
                    store: store, policy: trusted, context: context, workspace: home.root, stateDirectory: home.stateDirectory, files: cache?.files,
                    remote: remote, secretValues: LaunchEnvironment.values.merging(fileValues) { _, file in file },
                    stepEnvironment: SecretPolicy.stepEnvironment(LaunchEnvironment.values, withholding: withheld),
                    runner: HostProcessRunner(groups: supervision.groups)))
            let prepared: ManualRollback.Prepared
            do { prepared = try await rollback.prepare() } catch let e as ReleaseError { throw fail(e.message, hint: e.hint) }
            print(
                "rolling back \(env) from \(prepared.current?.release ?? "(none)") to \(prepared.target.release) (version \(prepared.target.version ?? "-"), commit \(prepared.target.commitID?.prefix(12) ?? "-")); steps from \(prepared.source)"
            )
            let outcome = await rollback.run(
                prepared, observer: PlainReporter(sink: FileDescriptorSink.standardOutput, style: Terminal.stdoutStyle), cancellation: supervision.token)
            guard outcome.succeeded else { throw fail(outcome.message, hint: "logs in \(outcome.runDirectory)", code: Exit.jobFailed) }
            print(outcome.message)
        }
    }
}
