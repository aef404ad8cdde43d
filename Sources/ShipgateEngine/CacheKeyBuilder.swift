import Foundation
import ShipgateCache
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

/// Computes a job's `KeyComponents` (see its documentation for exactly what is in the key).
struct CacheKeyBuilder {
    let context: CacheContext
    let runner: any ProcessRunner
    let environment: ProcessEnvironment.Base
    let workspace: String

    struct Unresolvable: Error, CustomStringConvertible {
        var description: String
    }

    /// `scripts`, `directories` and `envs` are per step, after interpolation. `needs` maps each
    /// needed job to its contribution (its key, or the digest of its artifacts). `jobEnv` (the
    /// job's resolved `env`) is added to `environment` for the `cache-key-extra` commands.
    func components(
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

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}
