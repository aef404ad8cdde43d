import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateGit
import ShipgateRelease
import ShipgateReport
import ShipgateState

extension Shipgate {
    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume",
            abstract: "Continue a blocked or interrupted run: finished jobs are not rerun, their artifacts are used.",
            discussion: """
                The run must be resumed on the commit it ran at, with the same pipeline file.
                Exit codes as for `run`: 0, 1, 2, 3 (still blocked), 130.
                """)

        @Argument(help: "The run id (or a unique prefix, or `last`).")
        var id: String

        @OptionGroup var execution: ExecutionOptions

        func run() async throws {
            let style = Terminal.stderrStyle
            var state = StateOptions()
            state.stateDir = execution.stateDir
            state.stateURL = execution.stateURL
            let store = try await state.open()
            let row = try await state.run(id, in: store)
            switch row.status {
            case "success": throw fail("run \(row.id) succeeded; there is nothing to resume", hint: "start a new run with `shipgate run`")
            case "running": throw fail("run \(row.id) is still running (pid \(row.pid) on \(row.host))", hint: "wait for it, or stop it first")
            default: break
            }
            // A run of another runner (its lease ran out there) resumes in this checkout of the repository.
            let file =
                row.host == ProcessLiveness.host && FileManager.default.fileExists(atPath: row.pipelineFile) ? row.pipelineFile : row.checkoutPipelineFile
            var options = PipelineOptions()
            options.file = file
            let pipeline = try options.load(style: style)
            guard pipeline.digest == row.pipelineDigest else {
                throw fail(
                    "\(file) changed since run \(row.id) started (\(row.pipelineDigest.prefix(19))… → \(pipeline.digest.prefix(19))…)",
                    hint: "a resumed run must run the pipeline it started with: restore the file, or start a new run")
            }
            // A run started with --no-cache goes on without the cache's results.
            var execution = self.execution
            let directory = RunDirectory(
                stateDirectory: Workspace(pipelineFile: file, stateDirectory: execution.stateDir).stateDirectory, runID: row.id)
            let record = try? RunDirectory.read(directory.root)
            if record?.noCache == true { execution.cacheOptions.noCache = true }
            let home = Workspace(pipelineFile: file, stateDirectory: execution.stateDir)
            let context = RunContext.resolve(workspace: home.root, environment: ProcessInfo.processInfo.environment, actor: row.actor)
            if let commit = row.commitID, context.git?.commit != commit {
                throw fail(
                    "run \(row.id) ran at commit \(commit.prefix(12)), but HEAD is at \(context.git?.commit.prefix(12) ?? "no commit")",
                    hint: "check out \(commit.prefix(12)) to resume it, or start a new run for this commit")
            }
            let selection = StateText.parseJSONArray(row.selection)
            let rules = try RuleOptions.parse([]).inputs(
                needed: pipeline.jobs.contains { $0.when != nil }, context: context, workspace: home, environment: ProcessInfo.processInfo.environment)
            let fullPlan = try options.plan(pipeline, jobs: selection, git: context.interpolation, rules: rules, style: style)
            // The run directory's journal is written once per finished job, before the database
            // (which batches); after a kill -9 it may hold jobs the database has not seen.
            var jobs: [String: JobResult] = [:]
            for j in try await store.jobs(ofRun: row.id) { if let r = StateRecorder.decode(j) { jobs[r.id] = r } }
            if let record {
                for r in record.jobs where r.status == .success || r.status == .cached { jobs[r.id] = r }
                // The store does not keep why a job was skipped; the record does.
                for r in record.jobs where r.status == .skipped && r.skipCause != nil && jobs[r.id]?.status == .skipped { jobs[r.id]?.skipCause = r.skipCause }
            }
            // Finished jobs whose artifacts are not in this runner's run directory (the run began on
            // another runner) run again: later jobs need their files, and approvals bound to the
            // old artifacts do not count for the new ones.
            let elsewhere = fullPlan.jobs.filter { job in
                job.artifacts != nil && (jobs[job.id]?.status == .success || jobs[job.id]?.status == .cached)
                    && !FileManager.default.fileExists(atPath: directory.root + "/artifacts/" + RunDirectory.fileName(for: job.id) + ".json")
            }.map(\.id)
            for id in elsewhere { jobs[id] = nil }
            if !elsewhere.isEmpty {
                FileDescriptorSink.standardError.write(
                    style.yellow(
                        "warning: the artifacts of \(elsewhere.map { "`\($0)`" }.joined(separator: ", ")) are on the runner that began run \(row.id) (\(row.host)): they run again here, and deploys need approvals of the new artifacts"
                    ) + "\n")
            }
            // Jobs the original run skipped by a rule stay skipped: rules are not re-evaluated
            // (the changes since the base may differ by now); skips because a need failed rerun.
            // What finished is reused whatever the rules say now.
            var plan = fullPlan
            for i in plan.jobs.indices {
                guard let earlier = jobs[plan.jobs[i].id] else { continue }
                if earlier.status == .success || earlier.status == .cached {
                    plan.jobs[i].status = .run
                    plan.jobs[i].reason = nil
                } else if earlier.status == .skipped, earlier.skipCause != .needs {
                    // A record from before `skipCause` counts as a rule's skip: never run what a rule skipped.
                    plan.jobs[i].status = .skip
                    plan.jobs[i].reason = earlier.reason
                }
            }
            let reused = jobs.values.filter { $0.status == .success || $0.status == .cached }.count
            FileDescriptorSink.standardError.write(
                style.dim("resuming run \(row.id) (\(row.status)); \(reused) finished job\(reused == 1 ? "" : "s") will not run again") + "\n")
            try await RunSession(
                execution: execution, pipeline: pipeline, plan: plan, pipelineFile: file, home: home, workspace: home, context: context,
                selection: selection, resumeRun: (row, jobs)
            ).execute()
        }
    }
}
