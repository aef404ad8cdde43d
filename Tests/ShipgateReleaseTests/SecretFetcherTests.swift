import Foundation
import ShipgateEngine
import ShipgateModel
import ShipgateProcess
import ShipgateRelease
import XCTest

/// Secret-manager commands run as real processes.
final class SecretFetcherTests: XCTestCase {
    let fetcher = SecretFetcher(
        runner: HostProcessRunner(), environment: ["PATH": "/usr/bin:/bin", "REGION": "eu-west-1"], workingDirectory: NSTemporaryDirectory(),
        timeout: .seconds(5))

    func fetch(_ command: String, others: [String: String] = [:]) async throws -> String {
        try await fetcher.fetch("TOKEN", command: command, others: others, cancellation: CancellationToken())
    }

    func testTheValueIsStdoutWithoutItsTrailingNewlineAndWithoutStderr() async throws {
        let value = try await fetch(#"echo "noise on stderr" >&2; printf 'line one\n\nline three\n'"#)
        XCTAssertEqual(value, "line one\n\nline three")
    }

    func testTheCommandSeesTheStepEnvironmentAndTheOtherSecrets() async throws {
        let value = try await fetch(#"printf '%s/%s' "$REGION" "$VAULT_TOKEN""#, others: ["VAULT_TOKEN": "v"])
        XCTAssertEqual(value, "eu-west-1/v")
    }

    func testAFailingCommandSaysHowWithTheEndOfItsStderr() async throws {
        do {
            _ = try await fetch(#"echo first >&2; echo "AccessDenied: not allowed" >&2; printf 'partial'; exit 3"#)
            XCTFail("a failing command gives no value")
        } catch let failure as SecretFetcher.Failure {
            XCTAssertEqual(failure.description, "the command of secret TOKEN exited 3: first | AccessDenied: not allowed")
        }
    }

    func testEmptyOutputAndATimeoutAreErrors() async throws {
        do {
            _ = try await fetch("true")
            XCTFail("empty")
        } catch let failure as SecretFetcher.Failure { XCTAssertTrue(failure.description.contains("printed nothing"), failure.description) }
        let slow = SecretFetcher(runner: HostProcessRunner(), environment: [:], workingDirectory: NSTemporaryDirectory(), timeout: .millis(200))
        do {
            _ = try await slow.fetch("T", command: "exec sleep 30", others: [:], cancellation: CancellationToken())
            XCTFail("timeout")
        } catch let failure as SecretFetcher.Failure { XCTAssertTrue(failure.description.contains("did not finish"), failure.description) }
    }
}
