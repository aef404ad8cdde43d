import ShipgateModel

/// Reads the approvers keyring: a YAML mapping of approver name to `"ed25519:BASE64"`, and
/// an optional `consoles:` mapping of release-console name to the console server's public key
/// (a console signs approvals on behalf of its logged-in users; see `ApprovalStatement.signedBy`).
public enum KeyringLoader {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var value: String
        public var line: Int
        /// True for an entry of the `consoles:` section.
        public var console = false
    }

    /// The entries, or located diagnostics (syntax, duplicate names, values that are not strings).
    public static func parse(bytes: [UInt8], file: String) -> ([Entry], [Diagnostic]) {
        let (doc, problems) = YAMLDocument.parse(bytes: bytes, file: file)
        guard let doc else { return ([], problems) }
        let reader = NodeReader(file: file)
        guard let pairs = reader.mapping(doc.root, what: "the keyring") else { return ([], reader.diagnostics) }
        var entries: [Entry] = []
        for p in pairs {
            if p.key == "consoles" {
                guard let consoles = reader.mapping(p.value, what: "`consoles` (console name: \"ed25519:…\")") else { continue }
                for c in consoles {
                    guard let value = reader.nonEmptyString(c.value, what: "the key of console `\(c.key)`") else { continue }
                    entries.append(Entry(name: c.key, value: value, line: c.keyNode.mark.line, console: true))
                }
                continue
            }
            guard let value = reader.nonEmptyString(p.value, what: "the key of `\(p.key)`") else { continue }
            entries.append(Entry(name: p.key, value: value, line: p.keyNode.mark.line))
        }
        return (entries, reader.diagnostics)
    }
}
