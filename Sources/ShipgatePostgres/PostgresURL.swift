import Foundation

/// A `postgres://` (or `postgresql://`) URL, parsed for postgres-nio.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE?sslmode=disable|prefer|require&passfile=PATH`,
/// or a Unix socket: `postgres://USER@/DATABASE?host=/var/run/postgresql`. The password comes
/// from the URL, else `PGPASSWORD`, else the first line of `passfile` (or `PGPASSFILE`). It is
/// never part of `redacted`, which is what messages show.
public struct PostgresURL: Sendable, Equatable {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var user: String
    public var password: String?
    public var host: String?
    public var port: Int
    public var socketPath: String?
    public var database: String
    public var tls: TLSMode

    public static func isPostgres(_ text: String) -> Bool { text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") }

    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard Self.isPostgres(text), let components = URLComponents(string: text) else {
            throw PostgresStoreError.badURL("expected postgres://USER@HOST:PORT/DATABASE, got `\(Self.redact(text))`")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        user = components.user.flatMap { $0.removingPercentEncoding } ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        let db = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = db.isEmpty ? user : (db.removingPercentEncoding ?? db)
        port = components.port ?? 5432
        if let socket = query["host"], socket.hasPrefix("/") {
            socketPath = socket.hasSuffix(".s.PGSQL.\(port)") ? socket : socket + "/.s.PGSQL.\(port)"
            host = nil
        } else {
            host = (components.host?.isEmpty == false ? components.host : nil) ?? "127.0.0.1"
            socketPath = nil
        }
        switch query["sslmode"] ?? "prefer" {
        case "disable", "allow": tls = .disable
        case "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        case let other: throw PostgresStoreError.badURL("unknown sslmode `\(other)` (use disable, prefer or require)")
        }
        if let p = components.password?.removingPercentEncoding, !p.isEmpty {
            password = p
        } else if let p = environment["PGPASSWORD"], !p.isEmpty {
            password = p
        } else if let file = query["passfile"] ?? environment["PGPASSFILE"], !file.isEmpty {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw PostgresStoreError.badURL("cannot read the password file \(file)")
            }
            password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
        } else {
            password = nil
        }
    }

    /// The URL without its password, for messages and logs.
    public var redacted: String {
        let where_ = socketPath.map { "@\(($0 as NSString).deletingLastPathComponent)" } ?? "@\(host ?? ""):\(port)"
        return "postgres://\(user)\(where_)/\(database)"
    }

    static func redact(_ text: String) -> String {
        guard var c = URLComponents(string: text), c.password != nil else { return text }
        c.password = "***"
        return c.string ?? "postgres://***"
    }
}

public enum PostgresStoreError: Error, CustomStringConvertible, Equatable {
    case badURL(String)
    case connect(String)
    case query(String)

    public var description: String {
        switch self {
        case .badURL(let m): "state URL: \(m)"
        case .connect(let m): "cannot connect to PostgreSQL: \(m)"
        case .query(let m): "PostgreSQL: \(m)"
        }
    }
}
