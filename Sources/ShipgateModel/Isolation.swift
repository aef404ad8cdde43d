/// `isolation:` of a job (or `defaults.isolation`): what its steps do not share with the jobs
/// running beside it on the host.
public struct JobIsolation: Hashable, Sendable, Codable {
    public enum Network: String, Hashable, Sendable, Codable, CaseIterable {
        /// The host's network (the default): ports are shared with every other job.
        case shared
        /// A network namespace of the job's own with a working loopback: two jobs may bind the
        /// same port; nothing but loopback is reachable.
        case `private`
    }

    public enum Workspace: String, Hashable, Sendable, Codable, CaseIterable {
        /// The workspace itself (the default): every job reads and writes the same files.
        case shared
        /// A copy of the workspace of the job's own (see `PrivateWorkspace`): what it writes stays
        /// there, except its declared outputs and artifacts, which flow back when it succeeds.
        case `private`
    }

    public var network: Network
    public var workspace: Workspace

    public init(network: Network = .shared, workspace: Workspace = .shared) {
        self.network = network
        self.workspace = workspace
    }

    /// What the job keeps to itself, as `plan` says it (`network, workspace`); empty when shared.
    public var privateParts: [String] {
        (network == .private ? ["network"] : []) + (workspace == .private ? ["workspace"] : [])
    }

    private enum CodingKeys: String, CodingKey { case network, workspace }

    // Records written before `workspace` existed decode as a shared workspace.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        network = try c.decodeIfPresent(Network.self, forKey: .network) ?? .shared
        workspace = try c.decodeIfPresent(Workspace.self, forKey: .workspace) ?? .shared
    }

    public static let shared = JobIsolation()
}

/// `toolchain: { python: "3.12", node: "20" }`: interpreters a job needs, found among those
/// installed and put first on its steps' `PATH` (see `ToolchainResolver`).
public struct ToolchainRequest: Hashable, Sendable, Codable {
    /// `python`, `node` or `go`.
    public var tool: String
    /// A version prefix (`3.12`), `${{ matrix.AXIS }}` allowed.
    public var version: String
    public var location: SourceLocation

    public init(tool: String, version: String, location: SourceLocation) {
        self.tool = tool
        self.version = version
        self.location = location
    }
}
