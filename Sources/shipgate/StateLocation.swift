import Foundation
import ShipgateEngine
import ShipgatePostgres
import ShipgateProcess
import ShipgateState

/// Which state store a command uses: `--state URL` (or `SHIPGATE_STATE_URL`) naming
/// `postgres://…` or `sqlite:PATH`, else `.shipgate/state.db` in the state directory.
enum StateLocation {
    static func url(_ explicit: String?) -> String? {
        explicit ?? LaunchEnvironment.values["SHIPGATE_STATE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func open(url: String?, stateDirectory: String) async throws -> any StateStore {
        guard let url else { return try SQLiteStateStore(stateDirectory: stateDirectory) }
        if PostgresURL.isPostgres(url) { return try await PostgresStateStore(url: url, environment: LaunchEnvironment.values) }
        if url.hasPrefix("sqlite:") { return try SQLiteStateStore(path: String(url.dropFirst("sqlite:".count))) }
        throw StateError.cannotOpen(path: url, reason: "--state must be postgres://USER@HOST:PORT/DATABASE or sqlite:PATH")
    }

    /// Whether there is any state to read (a PostgreSQL URL always counts).
    static func exists(url: String?, stateDirectory: String) -> Bool {
        guard let url else { return FileManager.default.fileExists(atPath: SQLiteStateStore.path(stateDirectory: stateDirectory)) }
        if url.hasPrefix("sqlite:") { return FileManager.default.fileExists(atPath: String(url.dropFirst("sqlite:".count))) }
        return true
    }

    /// What messages call it.
    static func describe(url: String?, stateDirectory: String) -> String {
        guard let url else { return SQLiteStateStore.path(stateDirectory: stateDirectory) }
        return PostgresURL.isPostgres(url) ? ((try? PostgresURL(url).redacted) ?? "postgres://…") : url
    }
}

extension RunRow {
    /// The run's pipeline file in the repository the command runs in (see `pipelineFile(inCheckout:)`).
    var localPipelineFile: String {
        pipelineFile(inCheckout: Workspace(pipelineFile: FileManager.default.currentDirectoryPath + "/shipgate.yml", stateDirectory: nil).root)
    }

    /// The run's pipeline file in the checkout the command runs in, even when the recorded path
    /// exists too (another runner's checkout on a shared disk): what a takeover runs.
    var checkoutPipelineFile: String {
        let root = Workspace(pipelineFile: FileManager.default.currentDirectoryPath + "/shipgate.yml", stateDirectory: nil).root
        let relative =
            pipelineFile.hasPrefix(workspace + "/") ? String(pipelineFile.dropFirst(workspace.count + 1)) : (pipelineFile as NSString).lastPathComponent
        return (root as NSString).appendingPathComponent(relative)
    }
}
