import ArgumentParser
import Foundation
import ShipgateReport

extension Shipgate {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Export a pipeline to another system.", subcommands: [GitHub.self])

        struct GitHub: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "github",
                abstract: "Print a GitHub Actions workflow in which each job runs on its own runner.",
                discussion: """
                    Needs, matrices, artifacts (upload/download-artifact), caches (actions/cache) and environments \
                    carry over; each GitHub job runs `shipgate run --job ID --no-deps` through the shipgate action, \
                    so steps, cache checks and deploy gates behave as in a single run. The output is deterministic.
                    """)

            @OptionGroup var pipeline: PipelineOptions

            @Option(help: "The runner label for every job.")
            var runsOn: String = "ubuntu-latest"

            @Option(help: "The `uses:` reference of the shipgate action.")
            var action: String = "shipgate/shipgate@v1"

            func run() throws {
                let style = Terminal.stderrStyle
                let loaded = try pipeline.load(style: style)
                let plan = try pipeline.plan(loaded, jobs: [], style: style)
                print(
                    GitHubWorkflowExporter.export(loaded, plan: plan, options: .init(runsOn: runsOn, action: action, pipelinePath: loaded.file)),
                    terminator: "")
            }
        }
    }
}
