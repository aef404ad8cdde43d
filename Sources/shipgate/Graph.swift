import ArgumentParser
import ShipgateReport

extension GraphRenderer.Format: ExpressibleByArgument {}

extension Shipgate {
    struct Graph: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "graph", abstract: "Draw the job graph as Mermaid or Graphviz dot.")

        @OptionGroup var pipeline: PipelineOptions

        @Option(help: "Output format: \(GraphRenderer.Format.allCases.map(\.rawValue).joined(separator: ", ")).")
        var format: GraphRenderer.Format = .mermaid

        func run() async throws {
            let loaded = try pipeline.load(style: Terminal.stderrStyle)
            let plan = try pipeline.plan(loaded, jobs: [], style: Terminal.stderrStyle)
            print(GraphRenderer.render(plan, as: format), terminator: "")
        }
    }
}
