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
