/// A job's `services:` entry as written: a service container that shipgate starts as a local
/// process instead (see `ServiceImage`).
public struct WorkflowService: Hashable, Sendable, Codable {
    public var id: String
    /// `image:` (a template: `postgres:${{ matrix.pg }}`); empty means no service, as on GitHub.
    public var image: String
    public var env: [NamedText]
    /// `ports:` entries (`5432:5432`, `5432`, `6379/tcp`), templates.
    public var ports: [String]
    /// `options:` (docker create flags); shipgate reads the `--health-*` ones.
    public var options: String?
    public var location: SourceLocation

    public init(id: String, image: String, env: [NamedText], ports: [String], options: String?, location: SourceLocation) {
        self.id = id
        self.image = image
        self.env = env
        self.ports = ports
        self.options = options
        self.location = location
    }
}

/// The service images shipgate can start from the host's packages, by the image's name
/// without registry, tag or digest (`postgres:16-alpine`, `docker.io/library/redis@sha256:…`).
public enum ServiceImage: String, Sendable, Codable, CaseIterable {
    case postgres
    case mysql
    case redis
    case memcached

    /// The port the image listens on inside its container.
    public var defaultPort: Int {
        switch self {
        case .postgres: 5432
        case .mysql: 3306
        case .redis: 6379
        case .memcached: 11211
        }
    }

    /// What to install when the host lacks it (Debian's package).
    public var package: String {
        switch self {
        case .postgres: "postgresql"
        case .mysql: "mariadb-server"
        case .redis: "redis-server"
        case .memcached: "memcached"
        }
    }

    public init?(image: String) {
        let (name, _) = Self.split(image)
        switch name {
        case "postgres", "postgresql": self = .postgres
        case "mysql", "mariadb": self = .mysql
        case "redis": self = .redis
        case "memcached": self = .memcached
        default: return nil
        }
    }

    /// The image's name (last path component, lowercased) and tag (`16-alpine`, nil: none).
    public static func split(_ image: String) -> (name: String, tag: String?) {
        var rest = Substring(image.lowercased())
        if let at = rest.firstIndex(of: "@") { rest = rest[..<at] }
        let last = rest.split(separator: "/").last ?? ""
        if let colon = last.firstIndex(of: ":") { return (String(last[..<colon]), String(last[last.index(after: colon)...])) }
        return (String(last), nil)
    }

    /// Why a service with this image cannot start here, or nil.
    public static func refusal(image: String, id: String) -> String? {
        guard !image.isEmpty, ServiceImage(image: image) == nil else { return nil }
        let known = ServiceImage.allCases.map(\.rawValue).joined(separator: ", ")
        return
            "service `\(id)` uses the image `\(image)`, which has no local equivalent: shipgate starts \(known) from the host's packages, without Docker; start the service yourself and remove it from `services:`"
    }
}
