import Foundation

/// Where a pipeline's steps run and where shipgate keeps its state.
struct Workspace {
    /// The repository root above the pipeline file (the nearest directory holding `.git`),
    /// else the pipeline file's own directory. Absolute.
    let root: String
    let stateDirectory: String

    init(pipelineFile: String, stateDirectory: String?) {
        let absolute = URL(fileURLWithPath: pipelineFile).standardizedFileURL.deletingLastPathComponent()
        var dir = absolute
        var found: URL?
        while true {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(".git").path) {
                found = dir
                break
            }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        root = (found ?? absolute).path
        let env = ProcessInfo.processInfo.environment["SHIPGATE_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let chosen = stateDirectory ?? env ?? (root as NSString).appendingPathComponent(".shipgate")
        self.stateDirectory = URL(fileURLWithPath: chosen).standardizedFileURL.path
    }

    /// A workspace rooted elsewhere (an `--isolate` checkout) that keeps another state directory.
    init(root: String, stateDirectory: String) {
        self.root = root
        self.stateDirectory = stateDirectory
    }
}
