import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateJobCache
import ShipgateReport

extension Shipgate {
    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "explain",
            abstract: "Say why a job of a past run ran or was restored from the cache.",
            discussion: "RUN is a run id (see .shipgate/runs/) or `last`. JOB is a job id as in the run, or a matrix job's declared id (every variant).")

        @Argument(help: "Run id, or `last`.") var run: String
        @Argument(help: "Job id.") var job: String
        @Option(help: "State directory (default: .shipgate here; env SHIPGATE_STATE_DIR).") var stateDir: String?
        @Flag(help: "Print the decision as JSON.") var json = false

        func run() async throws {
            let runs = RunsDirectory(explicit: stateDir)
            let dir = try runs.resolve(run)
            let record = try? RunDirectory.read(dir)
            let known = record?.jobs.map(\.id) ?? []
            // A matrix job's declared id stands for every variant of it in the run.
            let variants = known.filter { $0.hasPrefix(job + " (") }
            let ids = known.contains(job) || variants.isEmpty ? [job] : variants
            if json {
                let decisions = ids.compactMap { CacheDecision.read(runDirectory: dir, job: $0) }
                if decisions.isEmpty {
                    try explain(job, dir: dir, record: record, known: known)
                    return
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: ids.count == 1 ? try encoder.encode(decisions[0]) : try encoder.encode(decisions), as: UTF8.self))
                return
            }
            for id in ids { try explain(id, dir: dir, record: record, known: known) }
        }

        private func explain(_ job: String, dir: String, record: RunResult?, known: [String]) throws {
            let style = Terminal.stdoutStyle
            let result = record?.jobs.first { $0.id == job }
            // A job that did not run has no cache decision: say what happened to it instead.
            if let result, [.skipped, .cancelled, .blocked].contains(result.status) {
                let what = result.status == .blocked ? "was blocked by its environment's gate" : "was \(result.status.rawValue)"
                print("\(style.bold(job)) did not run: it \(what)\(result.reason.map { ": \($0)" } ?? "").")
                return
            }
            guard let decision = CacheDecision.read(runDirectory: dir, job: job) else {
                guard known.contains(job) else {
                    throw ValidationError(
                        "run \((dir as NSString).lastPathComponent) has no job `\(job)`" + (known.isEmpty ? "" : "; its jobs: \(known.joined(separator: ", "))")
                    )
                }
                let outcome = result.map { r in r.status.rawValue + (r.reason.map { ": \($0)" } ?? "") } ?? "ran"
                print(
                    "\(job) ran without the job cache (\(outcome)): it has no `inputs` (or the cache was unavailable). "
                        + "Jobs of GitHub workflows never have one: their steps run every time, and `actions/cache` keeps their dependencies.")
                return
            }
            switch decision.status {
            case .hit:
                print(
                    "\(style.bold(job)) was \(style.cyan("restored from the cache")): \(decision.reasons.joined(separator: "; "))\(decision.source == "remote" ? " (remote cache)" : "")."
                )
            case .miss:
                print("\(style.bold(job)) \(style.yellow("ran")) because:")
                for reason in decision.reasons { print("  - \(reason)") }
            case .error:
                print("\(style.bold(job)) ran without the cache: \(decision.reasons.joined(separator: "; "))")
            }
            if let key = decision.key { print(style.dim("key: \(key)")) }
            if let c = decision.components {
                print(
                    style.dim(
                        "key inputs: \(c.inputs.count) file\(c.inputs.count == 1 ? "" : "s"), \(c.needs.count) needed job key\(c.needs.count == 1 ? "" : "s"), \(c.extra.count) extra command\(c.extra.count == 1 ? "" : "s")"
                    ))
            }
        }
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// Finds run directories under a state directory.
struct RunsDirectory {
    let state: String

    init(explicit: String?) {
        let env = ProcessInfo.processInfo.environment["SHIPGATE_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        state = explicit ?? env ?? Workspace(pipelineFile: "./shipgate.yml", stateDirectory: nil).stateDirectory
    }

    var runIDs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: state + "/runs")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    func resolve(_ run: String) throws -> String {
        let ids = runIDs
        if run == "last" {
            guard let last = ids.last else { throw ValidationError("no runs in \(state)/runs") }
            return state + "/runs/" + last
        }
        guard !run.contains("/"), ids.contains(run) else {
            let near = ids.filter { $0.hasPrefix(run) }
            if near.count == 1 { return state + "/runs/" + near[0] }
            throw ValidationError("no run `\(run)` in \(state)/runs" + (ids.isEmpty ? "" : "; latest: \(ids.suffix(3).joined(separator: ", "))"))
        }
        return state + "/runs/" + run
    }
}
