import Foundation
import ShipgateEngine
import ShipgateModel
import ShipgateProcess
import ShipgateRelease
import ShipgateReport

/// GitHub's checkout action fetches only the commit being built (`fetch-depth: 1`), so a
/// branch build has no `origin/main` and no trusted policy. Inside GitHub Actions, shipgate
/// fetches the missing trusted ref itself (`git fetch --depth=1`, with the credentials the
/// checkout left) and reads the policy again; elsewhere it says how to.
enum TrustedRefFetch {
    static func load(pipeline: Pipeline, pipelinePath: String, trustRef: String?, keyringPath: String, style: Style) async -> TrustedPolicy {
        let policy = TrustedPolicy.load(pipeline: pipeline, pipelinePath: pipelinePath, trustRef: trustRef, keyringPath: keyringPath)
        guard policy.trustedCommit == nil, !policy.environmentsKnown, LaunchEnvironment.values["GITHUB_ACTIONS"] == "true" else { return policy }
        guard let name = ManualRollback.branchName(policy.source), !name.contains(" ") else { return policy }
        let directory = (pipelinePath as NSString).deletingLastPathComponent
        let outcome = await HostProcessRunner().run(
            ProcessRequest(
                argv: ["git", "fetch", "--no-tags", "--depth=1", "origin", "+refs/heads/\(name):refs/remotes/origin/\(name)"],
                environment: ProcessEnvironment(base: ProcessEnvironment.Base(SecretPolicy.stepEnvironment(LaunchEnvironment.values, withholding: []))),
                workingDirectory: directory.isEmpty ? "." : directory, timeout: .seconds(60), killGrace: .seconds(2)),
            cancellation: CancellationToken()
        ) { _ in }
        guard outcome.succeeded else {
            FileDescriptorSink.standardError.write(style.yellow("warning: cannot fetch the trusted ref origin/\(name) (`git fetch` failed)") + "\n")
            return policy
        }
        FileDescriptorSink.standardError.write(style.dim("fetched the trusted ref origin/\(name) (this checkout did not have it)") + "\n")
        return TrustedPolicy.load(pipeline: pipeline, pipelinePath: pipelinePath, trustRef: trustRef, keyringPath: keyringPath)
    }
}
