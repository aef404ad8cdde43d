import Foundation
import ShipgateEngine
import ShipgateModel
import ShipgateProcess

/// Fetches an environment's secrets from a secret manager (`secrets: { NAME: { command: … } }`)
/// for one admitted deploy.
///
/// Contract: called only after the environment's gate passed (and its lock is held), with the
/// command of the *enforced* policy (the trusted ref's). Each command runs with `/bin/sh -c` in
/// the workspace, with the run's step environment plus the environment's other secrets, for at
/// most `timeout`. Its stdout is the value (lines joined by `\n`, so the trailing newline is
/// dropped); its stderr goes to a private temporary file, and only on failure are its last lines
/// reported. The value is never written anywhere: not to a log, the state store or the cache.
public struct SecretFetcher: Sendable {
    public var runner: any ProcessRunner
    public var environment: [String: String]
    public var workingDirectory: String
    public var timeout: TimeSpan

    public init(runner: any ProcessRunner, environment: [String: String], workingDirectory: String, timeout: TimeSpan = .seconds(120)) {
        self.runner = runner
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `command` and returns what it printed; `others` are the secrets already resolved.
    public func fetch(_ name: String, command: String, others: [String: String], cancellation: CancellationToken) async throws -> String {
        let errorPath = NSTemporaryDirectory() + "shipgate-secret-\(UUID().uuidString).err"
        guard FileManager.default.createFile(atPath: errorPath, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "cannot create a temporary file for the stderr of secret \(name)'s command")
        }
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        let collected = Collected()
        var env = environment
        for (k, v) in others { env[k] = v }
        let outcome = await runner.run(
            ProcessRequest(
                argv: ["/bin/sh", "-c", "exec 2>\"$1\"\neval \"$2\"", "shipgate-secret", errorPath, command],
                environment: ProcessEnvironment(base: ProcessEnvironment.Base(env)), workingDirectory: workingDirectory,
                timeout: timeout, killGrace: .seconds(2)),
            cancellation: cancellation
        ) { line in collected.append(line) }
        guard outcome.succeeded else {
            let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            let tail = stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
            let how = outcome.exitCode.map { "exited \($0)" } ?? "did not finish within \(timeout)"
            throw Failure(description: "the command of secret \(name) \(how)" + (tail.isEmpty ? "" : ": \(tail)"))
        }
        let value = collected.value
        guard !value.isEmpty else { throw Failure(description: "the command of secret \(name) printed nothing") }
        return value
    }
}

/// Output lines, joined back into the printed text.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    private var started = false
    private var open = false

    func append(_ line: OutputLine) {
        lock.withLock {
            if started && !open { text += "\n" }
            text += line.text
            started = true
            open = line.continued
        }
    }

    var value: String { lock.withLock { text } }
}
