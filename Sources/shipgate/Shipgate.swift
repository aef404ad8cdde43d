import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateProcess

/// The `shipgate` command: a CI/CD pipeline runner and deploy gate.
struct Shipgate: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "shipgate",
        abstract: "Run CI/CD pipelines as real processes along a DAG, with dry runs and gates.",
        discussion: """
            Exit codes: 0 success, 1 a job failed, 2 invalid pipeline or usage, \
            3 blocked by a gate, 130 interrupted.
            """,
        version: version,
        subcommands: [
            Run.self, Plan.self, Validate.self, Graph.self, Explain.self, Artifacts.self, Cache.self, Resume.self, Status.self, Keygen.self,
            Approve.self, Reject.self, Approvals.self, History.self, Rollback.self, Audit.self, Export.self, State.self,
            Serve.self, User.self, Report.self, Reap.self, Runs.self,
        ]
    )
}

/// Documented process exit codes.
enum Exit {
    static let success: Int32 = 0
    static let jobFailed: Int32 = 1
    static let invalid: Int32 = 2
    static let blocked: Int32 = 3
    /// The jobs succeeded, but a write of the run's record (journal, run.json, state store) failed.
    static let recordIncomplete: Int32 = 4
    static let interrupted: Int32 = 130
}

/// Thrown by commands to end with a specific exit code after they printed what went wrong.
struct ExitWith: Error {
    var code: Int32
}

@main
enum Main {
    static func main() async {
        // Helpers steps start through, before anything else (they exec at once).
        NetworkNamespaceHelper.runIfRequested()
        // Before anything else: secrets and credentials out of /proc/PID/{environ,cmdline}.
        LaunchEnvironment.seal()
        var parsed = false
        do {
            var command = try Shipgate.parseAsRoot(Array(LaunchEnvironment.arguments.dropFirst()))
            parsed = true
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            exit(Exit.success)
        } catch let e as ExitWith {
            exit(e.code)
        } catch let e as ValidationError where parsed {
            // Thrown by a command once its arguments parsed: about the pipeline, the runs or the
            // state, not about how the command is written, so no `Usage:` line follows.
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            exit(Exit.invalid)
        } catch {
            let code = Shipgate.exitCode(for: error)
            let message = Shipgate.fullMessage(for: error)
            if code == .success {
                print(message)
                exit(Exit.success)
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            // Usage errors are exit 2, like every other "your input is wrong".
            exit(code == .validationFailure ? Exit.invalid : code.rawValue)
        }
    }
}
