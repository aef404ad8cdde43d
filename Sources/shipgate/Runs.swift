import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateModel

extension Shipgate {
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "runs",
            abstract: "Manage the run directories in .shipgate/runs.", subcommands: [Prune.self])

        struct Prune: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "prune",
                abstract: "Remove old run directories (logs, records, artifact manifests).",
                discussion: """
                    Keeps the newest --keep runs and the runs younger than --max-age; removes the others. \
                    Running and blocked runs and each branch's newest successful run are always kept. \
                    After every run, shipgate keeps the newest 50 (SHIPGATE_KEEP_RUNS; 0: all).
                    """)

            @Option(help: "Keep at most this many runs, the newest.") var keep: Int?
            @Option(help: "Remove runs started longer ago than this (e.g. 30d, 12h).") var maxAge: String?
            @Flag(help: "Only print what would be removed.") var dryRun = false
            @Option(help: "State directory (default: .shipgate in the workspace root; env SHIPGATE_STATE_DIR).") var stateDir: String?

            func validate() throws {
                if keep == nil && maxAge == nil { throw ValidationError("give --keep N, --max-age DURATION, or both") }
                if let keep, keep < 0 { throw ValidationError("--keep must be 0 or more") }
                if let maxAge, TimeSpan.parse(maxAge) == nil {
                    throw ValidationError("invalid duration `\(maxAge)` for --max-age (write e.g. `30d`, `12h`, `1h30m`)")
                }
            }

            func run() throws {
                let runs = RunsDirectory(explicit: stateDir)
                let outcome = RunRetention.prune(
                    runsDirectory: runs.state + "/runs", keep: keep, maxAge: maxAge.flatMap(TimeSpan.parse), dryRun: dryRun)
                for id in outcome.removed { print("\(dryRun ? "would remove" : "removed") \(id)") }
                let size = ByteCountFormatter.string(fromByteCount: outcome.freedBytes, countStyle: .file)
                print(
                    "\(dryRun ? "would remove" : "removed") \(outcome.removed.count) run\(outcome.removed.count == 1 ? "" : "s") (\(size)); kept \(outcome.kept)"
                )
            }
        }
    }
}
