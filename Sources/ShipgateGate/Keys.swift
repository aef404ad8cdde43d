import Crypto
import Foundation

/// An approver's Ed25519 key pair on disk: `NAME.key` (private, mode 0600) and `NAME.pub`.
///
/// Text formats, one `key: value` per line (`#` comments):
/// - private: `name: ada` and `private: ed25519:BASE64` (the 32-byte seed)
/// - public, and keyring entries: `ed25519:BASE64` (the 32-byte public key)
public struct ApproverKey: Sendable {
    public let name: String
    public let privateKey: Curve25519.Signing.PrivateKey

    public var publicKeyText: String { "ed25519:" + privateKey.publicKey.rawRepresentation.base64EncodedString() }
    /// The line to add to the approvers keyring.
    public var keyringLine: String { "\(name): \"\(publicKeyText)\"" }

    public init(name: String, privateKey: Curve25519.Signing.PrivateKey = .init()) {
        self.name = name
        self.privateKey = privateKey
    }

    public func sign(_ bytes: Data) throws -> Data { try privateKey.signature(for: bytes) }

    /// Writes `DIR/NAME.key` (0600, refusing to overwrite) and `DIR/NAME.pub`.
    public func write(directory: String) throws -> (privatePath: String, publicPath: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let keyPath = (directory as NSString).appendingPathComponent(name + ".key")
        let pubPath = (directory as NSString).appendingPathComponent(name + ".pub")
        let text = """
            # shipgate approver key. Private: never share or commit it.
            name: \(name)
            private: ed25519:\(privateKey.rawRepresentation.base64EncodedString())

            """
        let fd = open(keyPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw KeyError(
                errno == EEXIST
                    ? "\(keyPath) exists already; pick another name or --dir, or delete it first"
                    : "cannot create \(keyPath): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw KeyError("cannot write \(keyPath)") }
        try (publicKeyText + "\n").write(toFile: pubPath, atomically: true, encoding: .utf8)
        return (keyPath, pubPath)
    }

    /// Reads a private key file, refusing one that group or others can read.
    public static func read(path: String) throws -> ApproverKey {
        var st = stat()
        guard stat(path, &st) == 0 else { throw KeyError("cannot read key file \(path): \(String(cString: strerror(errno)))") }
        if st.st_mode & 0o077 != 0 {
            throw KeyError(
                "key file \(path) can be read by others (mode \(String(st.st_mode & 0o777, radix: 8))); a private key must be mode 600: run `chmod 600 \(path)`"
            )
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw KeyError("cannot read key file \(path)") }
        var name: String?
        var seed: Data?
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else { throw KeyError("\(path):\(n + 1): expected `name:` or `private:`") }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "name": name = value
            case "private":
                guard value.hasPrefix("ed25519:"), let data = Data(base64Encoded: String(value.dropFirst(8))), data.count == 32 else {
                    throw KeyError("\(path):\(n + 1): `private` must be `ed25519:` and a base64 32-byte key")
                }
                seed = data
            default: throw KeyError("\(path):\(n + 1): unknown key `\(key)`")
            }
        }
        guard let name, !name.isEmpty, let seed else { throw KeyError("\(path) is not a shipgate key file (it needs `name:` and `private:`)") }
        return ApproverKey(name: name, privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: seed))
    }
}

public struct KeyError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The trust root: approver names and their public keys, and the release consoles trusted
/// to sign on behalf of those approvers.
public struct Keyring: Sendable, Equatable {
    public var keys: [String: Data]
    /// Console name → the console server's public key.
    public var consoles: [String: Data]

    public init(keys: [String: Data] = [:], consoles: [String: Data] = [:]) {
        self.keys = keys
        self.consoles = consoles
    }

    /// Parses `ed25519:BASE64` values; returns the keyring and a message per bad entry.
    public static func parse(_ entries: [(name: String, value: String, line: Int, console: Bool)], file: String) -> (Keyring, [String]) {
        var ring = Keyring()
        var problems: [String] = []
        for e in entries {
            guard let data = publicKey(e.value) else {
                problems.append("\(file):\(e.line): the key of `\(e.name)` must be `ed25519:` and a base64 32-byte public key (shipgate keygen prints it)")
                continue
            }
            if e.console { ring.consoles[e.name] = data } else { ring.keys[e.name] = data }
        }
        return (ring, problems)
    }

    public func verifyConsole(_ signature: Data, of bytes: Data, by name: String) -> Bool {
        guard let raw = consoles[name], let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(signature, for: bytes)
    }

    public static func publicKey(_ text: String) -> Data? {
        guard text.hasPrefix("ed25519:"), let data = Data(base64Encoded: String(text.dropFirst(8))), data.count == 32 else { return nil }
        return data
    }

    public func verify(_ signature: Data, of bytes: Data, by name: String) -> Bool {
        guard let raw = keys[name], let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(signature, for: bytes)
    }

    /// The name whose key made `signature`, if any (to say "signed by X, not by Y").
    public func signer(of signature: Data, bytes: Data) -> String? {
        keys.keys.sorted().first { verify(signature, of: bytes, by: $0) }
    }
}
