import Foundation
import ShipgateCache
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

/// Computes a job's `KeyComponents` (see its documentation for exactly what is in the key).
public struct CacheKeyBuilder: Sendable {
    public let context: CacheContext
    /// Runs `cache-key-extra` commands.
    public let runner: any ProcessRunner
    public let environment: ProcessEnvironment.Base
    public let workspace: String

    public init(context: CacheContext, runner: any ProcessRunner, environment: ProcessEnvironment.Base, workspace: String) {
        self.context = context
        self.runner = runner
        self.environment = environment
        self.workspace = workspace
    }

    public struct Unresolvable: Error, CustomStringConvertible {
        public var description: String
    }

    /// What each needed job contributes to the key: its own key, or the digest of the
    /// artifacts it handed on; nothing for a job that has neither. Jobs waited for by stage
    /// order contribute only their artifacts; `after` jobs nothing.
    public static func needContributions<Facts: CacheFacts>(_ job: PlannedJob, needed: [String: Facts]) -> [String: String] {
        var needs: [String: String] = [:]
        for id in job.needs {
            guard let r = needed[id] else { continue }
            if let key = r.cacheKey, !job.needsFromStages {
                needs[id] = key
            } else if let digest = r.artifactsDigest {
                needs[id] = "artifacts:" + digest
            }
        }
        return needs
    }

    /// `scripts`, `directories` and `envs` are per step, after interpolation. `needs` maps each
    /// needed job to its contribution (its key, or the digest of its artifacts). `jobEnv` (the
    /// job's resolved `env`) is added to `environment` for the `cache-key-extra` commands.
    public func components(
        job: PlannedJob, spec: CacheSpec, scripts: [String], directories: [String?], envs: [[String: String]], needs: [String: String],
        jobEnv: [String: String] = [:]
    ) async throws -> KeyComponents {
        var c = KeyComponents()
        c.definition["job"] = job.job
        for value in job.matrix { c.definition["matrix.\(value.axis)"] = value.value }
        for (i, step) in job.steps.enumerated() {
            c.definition["step.\(i + 1).run"] = scripts[i]
            c.definition["step.\(i + 1).shell"] = step.shell.rawValue
            if let dir = directories[i] { c.definition["step.\(i + 1).dir"] = dir }
        }
        // Env shared by every step reads `env.NAME`; a value that differs by step is kept per step.
        let names = Set(envs.flatMap(\.keys))
        for name in names {
            let values = envs.map { $0[name] }
            if Set(values.map { $0 ?? "\u{0}" }).count == 1, let v = values[0] {
                c.definition["env.\(name)"] = v
            } else {
                for (i, v) in values.enumerated() { if let v { c.definition["step.\(i + 1).env.\(name)"] = v } }
            }
        }
        c.definition["outputs"] = spec.outputs.map(\.value).joined(separator: "\n")
        if let artifacts = job.artifacts {
            c.definition["artifacts"] = artifacts.paths.map(\.value).joined(separator: "\n")
        }
        let inputFiles = context.files(matching: spec.inputs.map(\.value), skippingIgnored: spec.includeIgnored != true)
        if inputFiles.isEmpty { throw Unresolvable(description: "`inputs` matched no file (\(spec.inputs.map(\.value).joined(separator: ", ")))") }
        c.inputs = try context.digests(of: inputFiles)
        c.needs = needs
        for command in spec.keyExtra {
            c.extra[command.value] = try await output(of: command.value, env: jobEnv)
        }
        return c
    }

    /// SHA-256 of a command's output (stdout and stderr), run with `/bin/sh -c` in the workspace.
    private func output(of command: String, env: [String: String]) async throws -> String {
        let lines = LinesBox()
        let outcome = await runner.run(
            ProcessRequest(
                argv: ["/bin/sh", "-c", command], environment: ProcessEnvironment(base: environment, overrides: env), workingDirectory: workspace,
                timeout: .seconds(60), killGrace: .seconds(2)),
            cancellation: CancellationToken()
        ) { line in lines.append(line.text) }
        guard outcome.succeeded else {
            throw Unresolvable(description: "cache-key-extra `\(command)` failed (\(outcome.exitCode.map { "exit \($0)" } ?? "did not finish"))")
        }
        return Digest.sha256(lines.text)
    }
}

/// What a finished (or, for `plan`, predicted) job hands the cache keys of the jobs that need it.
public protocol CacheFacts {
    var cacheKey: String? { get }
    var artifactsDigest: String? { get }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}
