import ArgumentParser
import Foundation
import ShipgateReport
import ShipgateState

/// `--state-dir` for commands that read the state store without a pipeline.
struct StateOptions: ParsableArguments {
    @Option(help: "State directory (default: .shipgate at the repository root; env SHIPGATE_STATE_DIR).", completion: .directory)
    var stateDir: String?

    @Option(name: .customLong("state"), help: "State store: postgres://USER@HOST:PORT/DB or sqlite:PATH (default: .shipgate/state.db; env SHIPGATE_STATE_URL).")
    var stateURL: String?

    var workspace: Workspace {
        Workspace(pipelineFile: FileManager.default.currentDirectoryPath + "/shipgate.yml", stateDirectory: stateDir)
    }

    /// Opens the store; a missing database is an error that says how one comes to exist.
    func open(mustExist: Bool = true) async throws -> any StateStore {
        let dir = workspace.stateDirectory
        let style = Terminal.stderrStyle
        let url = StateLocation.url(stateURL)
        if mustExist, !StateLocation.exists(url: url, stateDirectory: dir) {
            FileDescriptorSink.standardError.write(
                "\(style.red(style.bold("error:"))) no state database at \(StateLocation.describe(url: url, stateDirectory: dir))\n  \(style.cyan("hint:")) run a pipeline first (`shipgate run`), or pass --state-dir or --state\n"
            )
            throw ExitWith(code: Exit.invalid)
        }
        do {
            let store = try await StateLocation.open(url: url, stateDirectory: dir)
            try await store.markInterrupted()
            return store
        } catch {
            FileDescriptorSink.standardError.write("\(style.red(style.bold("error:"))) \(error)\n")
            throw ExitWith(code: Exit.invalid)
        }
    }

    /// The run a prefix (or `last`) names; exits 2 with a hint when none or several match.
    func run(_ id: String, in store: any StateStore) async throws -> RunRow {
        if let row = try await store.findRun(id) { return row }
        let style = Terminal.stderrStyle
        let recent = await (try? store.runs(limit: 5))?.map(\.id).joined(separator: ", ") ?? ""
        FileDescriptorSink.standardError.write(
            "\(style.red(style.bold("error:"))) no run `\(id)` in \(store.location)\(recent.isEmpty ? "" : "\n  \(style.cyan("hint:")) recent runs: \(recent)")\n"
        )
        throw ExitWith(code: Exit.invalid)
    }
}

func fail(_ message: String, hint: String? = nil, code: Int32 = Exit.invalid) -> ExitWith {
    let style = Terminal.stderrStyle
    var text = "\(style.red(style.bold("error:"))) \(message)\n"
    if let hint { text += "  \(style.cyan("hint:")) \(hint)\n" }
    FileDescriptorSink.standardError.write(text)
    return ExitWith(code: code)
}
