import Crypto
import Foundation
import HummingbirdBcrypt
import ShipgateGate
import ShipgateModel

/// A console user: a login bound to an approver name of the keyring.
public struct ConsoleUser: Codable, Sendable, Equatable {
    public struct Token: Codable, Sendable, Equatable {
        /// Public part of the token (`sgt_ID_SECRET`), to find it and to revoke it.
        public var id: String
        /// SHA-256 (hex) of the whole token; the token itself is never stored.
        public var hash: String
        public var created: String
    }

    public var name: String
    /// The keyring name whose approvals this user gives.
    public var approver: String
    /// bcrypt hash of the password.
    public var password: String
    public var tokens: [Token]
}

/// The users file (`.shipgate/console/users.json`, mode 600), managed by `shipgate user …`.
///
/// Contract: passwords are stored as bcrypt hashes and API tokens as SHA-256 hashes only;
/// writes are atomic (temporary file + rename) under an exclusive `flock`, so two `user`
/// commands never lose each other's change; the server re-reads the file when it changes, so
/// an added or removed user takes effect without a restart.
public final class UserStore: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var cached: (mtime: timespec, size: Int64, users: [ConsoleUser])?

    public init(path: String) { self.path = path }

    struct File: Codable {
        var users: [ConsoleUser]
    }

    /// The users now on disk (none when the file does not exist).
    public func users() throws -> [ConsoleUser] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT { return [] }
            throw KeyError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return try lock.withLock {
            if let c = cached, c.mtime.tv_sec == st.st_mtim.tv_sec, c.mtime.tv_nsec == st.st_mtim.tv_nsec, c.size == Int64(st.st_size) { return c.users }
            guard let data = FileManager.default.contents(atPath: path) else { throw KeyError("cannot read \(path)") }
            let users: [ConsoleUser]
            do { users = try JSONDecoder().decode(File.self, from: data).users } catch {
                throw KeyError("\(path) is not a shipgate users file: \(error)")
            }
            cached = (st.st_mtim, Int64(st.st_size), users)
            return users
        }
    }

    public func user(_ name: String) throws -> ConsoleUser? { try users().first { $0.name == name } }

    /// Changes the file under an exclusive lock; `change` gets the current users.
    public func update(_ change: (inout [ConsoleUser]) throws -> Void) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let lockFD = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw KeyError("cannot lock \(path): \(String(cString: strerror(errno)))") }
        defer { close(lockFD) }
        guard flock(lockFD, LOCK_EX) == 0 else { throw KeyError("cannot lock \(path)") }
        var users = try users()
        try change(&users)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(File(users: users))
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyError("cannot write \(temp): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(temp, path) == 0 else {
            unlink(temp)
            throw KeyError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        lock.withLock { cached = nil }
    }

    /// Adds a user or replaces their password and approver name (their tokens are kept).
    public func add(name: String, approver: String, password: String, cost: UInt8 = 12) throws {
        let hash = Bcrypt.hash(password, cost: cost)
        try update { users in
            if let i = users.firstIndex(where: { $0.name == name }) {
                users[i].password = hash
                users[i].approver = approver
            } else {
                users.append(ConsoleUser(name: name, approver: approver, password: hash, tokens: []))
            }
        }
    }

    /// False when there was no such user.
    @discardableResult
    public func remove(name: String) throws -> Bool {
        var found = false
        try update { users in
            found = users.contains { $0.name == name }
            users.removeAll { $0.name == name }
        }
        return found
    }

    /// Creates an API token for `name` and returns it: the only time it is ever shown.
    public func newToken(for name: String, now: Date = Date()) throws -> String {
        let id = Random.token(6)
        let secret = Data(Random.bytes(32)).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let token = "sgt_\(id)_\(secret)"
        try update { users in
            guard let i = users.firstIndex(where: { $0.name == name }) else { throw KeyError("no user \(name); add them with `shipgate user add \(name)`") }
            users[i].tokens.append(.init(id: id, hash: Self.hash(token), created: ISO8601DateFormatter().string(from: now)))
        }
        return token
    }

    /// Revokes one token (by its id) or all of a user's tokens (`id` nil); returns how many.
    @discardableResult
    public func revokeTokens(of name: String, id: String?) throws -> Int {
        var removed = 0
        try update { users in
            guard let i = users.firstIndex(where: { $0.name == name }) else { throw KeyError("no user \(name)") }
            let before = users[i].tokens.count
            users[i].tokens.removeAll { id == nil || $0.id == id }
            removed = before - users[i].tokens.count
        }
        return removed
    }

    /// The user whose password this is, or nil. Always runs bcrypt, even for an unknown
    /// name, so the time taken does not tell which names exist.
    public func authenticate(name: String, password: String) throws -> ConsoleUser? {
        let user = try user(name)
        let ok = Bcrypt.verify(password, hash: user?.password ?? Self.decoyHash)
        return ok ? user : nil
    }

    /// The user an API token belongs to, or nil.
    public func user(forToken token: String) throws -> ConsoleUser? {
        let parts = token.split(separator: "_", maxSplits: 2)
        guard parts.count == 3, parts[0] == "sgt" else { return nil }
        let digest = Self.hash(token)
        for u in try users() {
            for t in u.tokens where t.id == parts[1] && Self.constantTimeEqual(t.hash, digest) { return u }
        }
        return nil
    }

    static func hash(_ token: String) -> String { Hex.string(SHA256.hash(data: Data(token.utf8))) }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    /// A bcrypt hash of a random password, verified against for unknown user names.
    static let decoyHash = Bcrypt.hash(UUID().uuidString, cost: 12)
}

/// Random bytes from the system's CSPRNG (`SystemRandomNumberGenerator`: getrandom(2) on Linux).
enum Random {
    static func bytes(_ count: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    /// Hex of `count` random bytes.
    static func token(_ count: Int = 32) -> String { Hex.string(bytes(count)) }
}
