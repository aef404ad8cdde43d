import Foundation
import XCTest

/// A scratch git repository on `main` holding a pipeline, its approvers keyring (keys made
/// with `shipgate keygen`) and a `release.txt` the build reads. Removed on deinit.
final class GateRepo {
    let path: String
    let keys: String
    static let git = "git -c user.name=test -c user.email=test@example.com -c init.defaultBranch=main"

    init(pipeline: String, approvers: [String] = ["alice", "bob", "carol", "tester"]) async throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-gate-\(UUID().uuidString)").path
        keys = path + "-keys"
        try FileManager.default.createDirectory(atPath: path + "/pipelines", withIntermediateDirectories: true)
        try pipeline.write(toFile: path + "/pipelines/deploy.yml", atomically: true, encoding: .utf8)
        try "good\n".write(toFile: path + "/release.txt", atomically: true, encoding: .utf8)
        try ".shipgate/\ndist/\nlive/\n*.json\n".write(toFile: path + "/.gitignore", atomically: true, encoding: .utf8)
        var keyring = ""
        for name in approvers { keyring += try await keygen(name) }
        try keyring.write(toFile: path + "/pipelines/approvers.yml", atomically: true, encoding: .utf8)
        _ = try await sh("\(Self.git) init -q && \(Self.git) add -A && \(Self.git) commit -qm initial")
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: keys)
    }

    /// Creates a key pair; returns its keyring line (with a newline).
    func keygen(_ name: String) async throws -> String {
        let out = try await CLI.run(["keygen", name, "--dir", keys], in: path)
        XCTAssertEqual(out.status, 0, out.stderr)
        return out.stdout
    }

    func key(_ name: String) -> String { keys + "/" + name + ".key" }

    func shipgate(_ arguments: [String], env: [String: String] = [:]) async throws -> CLI.Output {
        try await CLI.run(arguments, in: path, environment: env)
    }

    /// Runs shipgate and expects exit 0.
    @discardableResult
    func ok(_ arguments: [String], env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) async throws -> CLI.Output {
        let out = try await shipgate(arguments, env: env)
        XCTAssertEqual(out.status, 0, "shipgate \(arguments.joined(separator: " ")):\n\(out.stdout)\n\(out.stderr)", file: file, line: line)
        return out
    }

    @discardableResult
    func sh(_ command: String) async throws -> String { try await CLI.shell(command, in: path) }

    func write(_ text: String, to file: String) throws {
        try text.write(toFile: path + "/" + file, atomically: true, encoding: .utf8)
    }

    func read(_ file: String) -> String { (try? String(contentsOfFile: path + "/" + file, encoding: .utf8)) ?? "" }

    func commitAll(_ message: String) async throws {
        try await sh("\(Self.git) add -A && \(Self.git) commit -qm '\(message)'")
    }

    /// The run id a run printed (`shipgate: run ID of …`).
    static func runID(_ output: String) -> String? {
        guard let r = output.range(of: #"\d{8}-\d{6}-\d{3}[0-9a-f]{6}"#, options: .regularExpression) else { return nil }
        return String(output[r])
    }

    /// `history --env ENV --json`, decoded.
    func history(_ env: String) async throws -> [[String: Any]] {
        let out = try await shipgate(["history", "--env", env, "--json"])
        XCTAssertEqual(out.status, 0, out.stderr)
        return (try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [[String: Any]]) ?? []
    }
}
