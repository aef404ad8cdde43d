import ArgumentParser
import ShipgatePlanning
import ShipgateReport

extension Shipgate {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check a pipeline file and report every problem with file:line:col.",
            discussion: "Exits 0 when the pipeline is valid, 2 when it is not.")

        @OptionGroup var pipeline: PipelineOptions

        func run() async throws {
            let style = Terminal.stderrStyle
            let loaded = try pipeline.load(style: style)
            let plan = try pipeline.plan(loaded, jobs: [], style: style)
            print(
                "\(loaded.file): valid (\(plan.jobs.count) job\(plan.jobs.count == 1 ? "" : "s") in \(plan.waves.count) wave\(plan.waves.count == 1 ? "" : "s"))"
            )
        }
    }
}
