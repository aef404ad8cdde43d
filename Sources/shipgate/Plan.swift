import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateReport

extension Shipgate {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what `run` would do, without running anything.",
            discussion: "Jobs in execution order (waves of what can run in parallel), with their commands after interpolation and why anything is skipped.")

        @OptionGroup var pipeline: PipelineOptions

        @Option(name: .customLong("job"), help: "Plan only these jobs and what they need (repeatable).")
        var jobs: [String] = []

        @Flag(help: "Print the plan as JSON (documented in docs/pipeline-format.md).")
        var json = false

        func run() async throws {
            let loaded = try pipeline.load(style: Terminal.stderrStyle)
            let plan = try pipeline.plan(loaded, jobs: jobs, style: Terminal.stderrStyle)
            // Secret values present in the environment are masked, should a script contain one literally.
            let masker = SecretMasker(values: plan.secrets.compactMap { ProcessInfo.processInfo.environment[$0] })
            print(json ? PlanPrinter.json(plan, masker: masker) : PlanPrinter.text(plan, style: Terminal.stdoutStyle, masker: masker), terminator: "")
        }
    }
}
