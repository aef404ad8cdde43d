import Foundation
import ShipgateEngine
import ShipgateModel
import ShipgateProcess

/// Who gets which secret: the one place that decides, for runs, plans and rollbacks.
///
/// Rules: pipeline secrets (`secrets:` at the top, `--secret`, every value of `--secrets-file`)
/// go to every job. Environment secrets (named by any environment of the working tree *or* the
/// trusted ref, so a branch cannot free one by deleting it from its copy) go only to an
/// admitted deploy of their environment (`DeployController`). The state store's credentials go
/// to no process at all. The caller removes `withheld` from shipgate's own C environment
/// (`LaunchEnvironment.withhold`), so no child inherits any of it by accident.
public struct RunSecrets: Sendable {
    /// Values every job receives.
    public var pipeline: [String: String]
    /// Values of environment secrets that are set, by name (command secrets are fetched later).
    public var environment: [String: String]
    /// The environment steps and commands start from: the launch environment without any
    /// environment secret or credential.
    public var stepEnvironment: [String: String]
    /// Every name no child may inherit from shipgate's C environment.
    public var withheld: Set<String>
    /// Every value to mask, whoever receives it.
    public var maskedValues: [String] { Array(pipeline.values) + Array(environment.values) + credentialValues }
    var credentialValues: [String]

    /// Resolves the secrets of a run. Throws `SecretSource.Missing` for unset pipeline secrets.
    public static func resolve(
        required: [String], pipeline: Pipeline, policy: TrustedPolicy, launch: [String: String], file: [String: String]
    ) throws -> RunSecrets {
        let environmentNames = SecretPolicy.environmentSecretNames(pipeline: pipeline, policy: policy)
        var shared = try SecretSource.resolve(required: required, environment: launch, file: file)
        var perEnvironment: [String: String] = [:]
        for name in environmentNames {
            if let v = file[name] ?? launch[name] { perEnvironment[name] = v }
            shared[name] = nil
        }
        let withheld = environmentNames.union(LaunchEnvironment.credentialNames)
        return RunSecrets(
            pipeline: shared, environment: perEnvironment, stepEnvironment: SecretPolicy.stepEnvironment(launch, withholding: withheld),
            withheld: withheld.union(shared.keys),
            credentialValues: ["PGPASSWORD"].compactMap { launch[$0] }.filter { !$0.isEmpty })
    }
}

public enum SecretPolicy {
    /// Every environment secret name the working tree or the trusted ref declares.
    public static func environmentSecretNames(pipeline: Pipeline, policy: TrustedPolicy) -> Set<String> {
        Set(pipeline.environments.flatMap { $0.secrets.map(\.value) } + policy.environments.values.flatMap { $0.secrets.map(\.value) })
    }

    /// GitHub Actions' control files: a step that could write them would set variables (say
    /// `SHIPGATE_TRUST_REF`) and `PATH` for the workflow's later steps, a later `shipgate run
    /// --job deploy` among them, or fake shipgate's own outputs and summary. Shipgate writes them
    /// itself; steps get `SHIPGATE_ENV`, `SHIPGATE_PATH` and `SHIPGATE_OUTPUT` instead.
    public static let runnerControlFiles: Set<String> = ["GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_STATE"]

    /// `launch` without `withheld` names, the state store's credentials and the runner's control files.
    public static func stepEnvironment(_ launch: [String: String], withholding withheld: Set<String>) -> [String: String] {
        launch.filter { !withheld.contains($0.key) && !LaunchEnvironment.credentialNames.contains($0.key) && !runnerControlFiles.contains($0.key) }
    }
}
