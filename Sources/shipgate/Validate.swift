import ArgumentParser
import ShipgateLoading
import ShipgateModel
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
            let path = try pipeline.resolvedFile()
            // A workflow is usually obvious from a top-level `on:` line; the decoder decides.
            let actions = GitActionSource(root: WorkflowLoader.repositoryRoot(of: path))
            if WorkflowLoader.mentionsOn(path: path), let workflow = WorkflowLoader.loadIfWorkflow(path: path, actions: actions) {
                return try validateWorkflow(path, workflow, style: style)
            }
            let result = PipelineLoader.load(path: path)
            if result.pipeline == nil, WorkflowLoader.isWorkflow(path: path) {
                return try validateWorkflow(path, WorkflowLoader.load(path: path, actions: actions), style: style)
            }
            let loaded = try pipeline.load(style: style, path: path, preloaded: result)
            let plan = try pipeline.plan(loaded, jobs: [], style: style)
            print(
                "\(loaded.file): valid (\(plan.jobs.count) job\(plan.jobs.count == 1 ? "" : "s") in \(plan.waves.count) wave\(plan.waves.count == 1 ? "" : "s"))"
            )
        }

        /// A GitHub workflow: every problem reported with its location, then what it declares.
        private func validateWorkflow(_ path: String, _ result: WorkflowLoader.Result, style: Style) throws {
            if !result.diagnostics.isEmpty {
                FileDescriptorSink.standardError.write(DiagnosticPrinter.render(result.diagnostics, style: style))
            }
            guard let workflow = result.workflow else {
                FileDescriptorSink.standardError.write(DiagnosticPrinter.summary(result.diagnostics, file: path) + "\n")
                throw ExitWith(code: Exit.invalid)
            }
            let variants = workflow.jobs.reduce(0) { $0 + ($1.variants?.count ?? 1) }
            let jobs = "\(workflow.jobs.count) job\(workflow.jobs.count == 1 ? "" : "s")"
            var runs = ""
            if let pipeline = result.pipeline {
                // Which variants this host runs natively, on the workflow's own terms (triggers aside).
                let settings = WorkflowSettings(ignoreTriggers: true)
                var total = 0
                var refused = 0
                for def in pipeline.jobs where def.github?.collects == nil {
                    for (index, variant) in (def.matrix?.combinations() ?? [[]]).enumerated() {
                        total += 1
                        if Planner.refusal(def, variant: variant, index: index, settings: settings) != nil { refused += 1 }
                    }
                }
                runs = refused == 0 ? "; all run here" : "; \(total - refused) run here, \(refused) refused (`shipgate plan \(path)` says why)"
            }
            print(
                "\(path): valid GitHub Actions workflow (\(jobs)\(variants == workflow.jobs.count ? "" : ", \(variants) with the matrix variants expanded"), "
                    + "on \(workflow.events.joined(separator: ", ")))\(runs)")
        }
    }
}
