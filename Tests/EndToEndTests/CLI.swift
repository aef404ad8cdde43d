import Foundation
import Subprocess
import XCTest

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// Runs the built `shipgate` binary and compares its output with golden files.
/// Re-record goldens with `SHIPGATE_RECORD=1 swift test --filter EndToEndTests`.
enum CLI {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The `shipgate` executable next to the test bundle (same build configuration).
    static let binary: String = {
        var candidates: [URL] = []
        for bundle in Bundle.allBundles { candidates += [bundle.bundleURL, bundle.bundleURL.deletingLastPathComponent()] }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for dir in candidates {
            let path = dir.appendingPathComponent("shipgate").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return "shipgate-binary-not-found"
    }()

    static func run(_ arguments: [String], in directory: String, environment extra: [String: String] = [:]) async throws -> Output {
        var env = ProcessInfo.processInfo.environment
        for key in ["GITHUB_ACTIONS", "SHIPGATE_STATE_DIR", "CI"] { env[key] = nil }
        env["NO_COLOR"] = "1"
        env["SHIPGATE_ACTOR"] = "tester"
        for (k, v) in extra { env[k] = v }
        let result = try await Subprocess.run(
            .path(FilePath(binary)), arguments: Arguments(arguments),
            environment: .custom(env.map { Array("\($0.key)=\($0.value)\0".utf8) }),
            workingDirectory: FilePath(directory),
            output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
        let status: Int32
        switch result.terminationStatus {
        case .exited(let code): status = Int32(code)
        case .signaled(let signal): status = 128 + Int32(signal)
        }
        return Output(status: status, stdout: result.standardOutput, stderr: result.standardError)
    }

    /// Runs a shell command (test setup, e.g. `git init`); returns its trimmed stdout.
    static func shell(_ command: String, in directory: String) async throws -> String {
        let result = try await Subprocess.run(
            .path("/bin/sh"), arguments: ["-c", command], workingDirectory: FilePath(directory),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        guard case .exited(0) = result.terminationStatus else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "`\(command)` failed: \(result.standardError)"])
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Replaces what differs between runs: run ids, durations, timestamps, temp paths.
    static func normalize(_ text: String, workspace: String) -> String {
        var s = text.replacingOccurrences(of: workspace, with: "$WORKSPACE")
        let rules: [(String, String)] = [
            (#"\d{8}-\d{6}-\d{3}[0-9a-f]{6}"#, "RUN_ID"),
            (#""durationMs":\d+"#, #""durationMs":0"#),
            (#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"#, "TIMESTAMP"),
            (#"time="[0-9.]+""#, #"time="0""#),
            (#"\b\d+\.\d+s\b"#, "T"),
            (#"\b\d+m\d\ds\b"#, "T"),
            (#"\b\d+(s)?\d*ms\b"#, "T"),
            // A duration under a millisecond is written `0s`.
            (#"\b(in|after) 0s\b"#, "$1 T"),
        ]
        for (pattern, replacement) in rules {
            s = s.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return s
    }

    /// Replaces 64-hex-digit cache keys and digests with `KEY`.
    static func normalizeKeys(_ text: String) -> String {
        text.replacingOccurrences(of: #"[0-9a-f]{64}"#, with: "KEY", options: .regularExpression)
            .replacingOccurrences(of: #"[0-9a-f]{12}…"#, with: "KEY…", options: .regularExpression)
    }

    /// Compares `actual` with `Fixtures/<scenario>/<name>`, or writes it when recording.
    static func assertGolden(_ actual: String, _ scenario: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let url = fixtures.appendingPathComponent(scenario).appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["SHIPGATE_RECORD"] == "1" {
            try? actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            XCTFail("missing golden file \(url.path); record with SHIPGATE_RECORD=1", file: file, line: line)
            return
        }
        if expected != actual {
            let diff = zip(expected.split(separator: "\n", omittingEmptySubsequences: false), actual.split(separator: "\n", omittingEmptySubsequences: false))
                .enumerated().first { $0.element.0 != $0.element.1 }
            XCTFail(
                "\(scenario)/\(name) differs from the golden file (first difference at line \((diff?.offset ?? 0) + 1):\n- \(diff?.element.0 ?? "")\n+ \(diff?.element.1 ?? "")\n\nfull output:\n\(actual)",
                file: file, line: line)
        }
    }
}

/// A scratch copy of a fixture: runs must not write into the source tree.
final class Scratch {
    let path: String
    init(fixture: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let source = CLI.fixtures.appendingPathComponent(fixture).appendingPathComponent("pipeline.yml").path
        try FileManager.default.copyItem(atPath: source, toPath: path + "/pipeline.yml")
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
