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

    /// The given file, else the first default file here or in a directory above, up to the
    /// repository root (the nearest directory with `.git`), as `explain` and `status` find the
    /// state. A given relative path that does not exist here is also looked for from the root.
    func resolvedFile() throws -> String {
        let fm = FileManager.default
        let here = fm.currentDirectoryPath
        let root = Workspace(pipelineFile: here + "/shipgate.yml", stateDirectory: nil).root
        if let file {
            if fm.fileExists(atPath: file) || file.hasPrefix("/") { return file }
            let fromRoot = (root as NSString).appendingPathComponent(file)
            return fm.fileExists(atPath: fromRoot) ? fromRoot : file
        }
        var dir = URL(fileURLWithPath: here).standardizedFileURL
        while true {
            if let found = Self.defaultFiles.first(where: { fm.fileExists(atPath: dir.appendingPathComponent($0).path) }) {
                return dir.path == URL(fileURLWithPath: here).standardizedFileURL.path ? found : dir.appendingPathComponent(found).path
            }
            let parent = dir.deletingLastPathComponent()
            if dir.path == root || parent.path == dir.path || !dir.path.hasPrefix(root) { break }
            dir = parent
        }
        throw ValidationError(
            "no pipeline file given, and none of \(Self.defaultFiles.joined(separator: ", ")) exists here"
                + (root == URL(fileURLWithPath: here).standardizedFileURL.path ? "" : " or above, up to \(root)"))
    }

    /// Loads and validates the pipeline; prints every diagnostic to stderr; exits 2 on errors.
    func load(style: Style, path explicitPath: String? = nil, preloaded: PipelineLoader.Result? = nil) throws -> Pipeline {
        let path = try explicitPath ?? resolvedFile()
        // A GitHub workflow goes through its own front end to the same model.
        let actions = GitActionSource(root: WorkflowLoader.repositoryRoot(of: path))
        if preloaded == nil, WorkflowLoader.mentionsOn(path: path), let workflow = WorkflowLoader.loadIfWorkflow(path: path, actions: actions) {
            return try loaded(workflow, path: path, style: style)
        }
        let result = preloaded ?? PipelineLoader.load(path: path)
        if result.pipeline == nil, WorkflowLoader.isWorkflow(path: path) {
            return try loaded(WorkflowLoader.load(path: path, actions: actions), path: path, style: style)
        }
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

    /// A workflow's diagnostics printed as a pipeline's are; exits 2 on errors.
    private func loaded(_ result: WorkflowLoader.Result, path: String, style: Style) throws -> Pipeline {
        if !result.diagnostics.isEmpty {
            FileDescriptorSink.standardError.write(DiagnosticPrinter.render(result.diagnostics, style: style))
            if ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true" {
                FileDescriptorSink.standardOutput.write(GitHubReporter.annotations(result.diagnostics))
            }
        }
        guard let pipeline = result.pipeline else {
            FileDescriptorSink.standardError.write(DiagnosticPrinter.summary(result.diagnostics, file: path) + "\n")
            throw ExitWith(code: Exit.invalid)
        }
        return pipeline
    }

    /// Plans with the job selection; graph problems and unknown `--job` names exit 2.
    func plan(
        _ pipeline: Pipeline, jobs: [String], git: [String: String] = [:], rules: RuleInputs? = nil, withoutNeeds: Bool = false,
        workflow: WorkflowSettings = WorkflowSettings(), style: Style
    ) throws -> ExecutionPlan {
        var options = Planner.Options(selectedJobs: jobs, git: git, rules: rules, withoutNeeds: withoutNeeds)
        options.workflow = workflow
        let (plan, diagnostics) = Planner.plan(pipeline, options: options)
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
