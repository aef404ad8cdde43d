import ShipgateModel

/// Reads the approvers keyring: a YAML mapping of approver name to `"ed25519:BASE64"`.
public enum KeyringLoader {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var value: String
        public var line: Int
    }

    /// The entries, or located diagnostics (syntax, duplicate names, values that are not strings).
    public static func parse(bytes: [UInt8], file: String) -> ([Entry], [Diagnostic]) {
        let (doc, problems) = YAMLDocument.parse(bytes: bytes, file: file)
        guard let doc else { return ([], problems) }
        let reader = NodeReader(file: file)
        guard let pairs = reader.mapping(doc.root, what: "the keyring") else { return ([], reader.diagnostics) }
        var entries: [Entry] = []
        for p in pairs {
            guard let value = reader.nonEmptyString(p.value, what: "the key of `\(p.key)`") else { continue }
            entries.append(Entry(name: p.key, value: value, line: p.keyNode.mark.line))
        }
        return (entries, reader.diagnostics)
    }
}
