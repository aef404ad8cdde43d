import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateLoading
import ShipgateModel
import ShipgatePlanning
import ShipgateReport

/// The pipeline file argument shared by every command, and loading it with diagnostics.
struct PipelineOptions: ParsableArguments {
    @Argument(help: "Pipeline file (default: shipgate.yml, shipgate.yaml, else pipelines/ci.yml).", completion: .file(extensions: ["yml", "yaml"]))
    var file: String?

    static let defaultFiles = ["shipgate.yml", "shipgate.yaml", "pipelines/ci.yml"]

    func resolvedFile() throws -> String {
        if let file { return file }
        if let found = Self.defaultFiles.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw ValidationError("no pipeline file given, and none of \(Self.defaultFiles.joined(separator: ", ")) exists here")
    }

    /// Loads and validates the pipeline; prints every diagnostic to stderr; exits 2 on errors.
    func load(style: Style, path explicitPath: String? = nil) throws -> Pipeline {
        let path = try explicitPath ?? resolvedFile()
        let result = PipelineLoader.load(path: path)
        var diagnostics = result.diagnostics
        if result.pipeline == nil, let partial = result.partial {
            // Report graph problems (cycles, unknown needs) in the same pass as the others.
            diagnostics = (diagnostics + JobGraph.build(partial).1).sortedByLocation()
        }
        if !diagnostics.isEmpty {
            FileDescriptorSink.standardError.write(DiagnosticPrinter.render(diagnostics, style: style))
            if ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true" {
                FileDescriptorSink.standardOutput.write(GitHubReporter.annotations(diagnostics))
            }
        }
        guard let pipeline = result.pipeline else {
            FileDescriptorSink.standardError.write(DiagnosticPrinter.summary(diagnostics, file: path) + "\n")
            throw ExitWith(code: Exit.invalid)
        }
        return pipeline
    }

    /// Plans with the job selection; graph problems and unknown `--job` names exit 2.
    func plan(
        _ pipeline: Pipeline, jobs: [String], git: [String: String] = [:], rules: RuleInputs? = nil, withoutNeeds: Bool = false, style: Style
    ) throws -> ExecutionPlan {
        let (plan, diagnostics) = Planner.plan(pipeline, options: .init(selectedJobs: jobs, git: git, rules: rules, withoutNeeds: withoutNeeds))
        if !diagnostics.isEmpty {
            FileDescriptorSink.standardError.write(DiagnosticPrinter.render(diagnostics, style: style))
        }
        guard let plan else {
            FileDescriptorSink.standardError.write(DiagnosticPrinter.summary(diagnostics, file: pipeline.file) + "\n")
            throw ExitWith(code: Exit.invalid)
        }
        return plan
    }
}

enum Terminal {
    /// Colour for stderr diagnostics: a terminal, and NO_COLOR not set.
    static var stderrStyle: Style {
        Style(enabled: isatty(2) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil && ProcessInfo.processInfo.environment["TERM"] != "dumb")
    }

    static var stdoutStyle: Style {
        Style(enabled: isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil && ProcessInfo.processInfo.environment["TERM"] != "dumb")
    }
}
