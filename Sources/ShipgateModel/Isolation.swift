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

    public var network: Network

    public init(network: Network = .shared) {
        self.network = network
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
