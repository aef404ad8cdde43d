import ShipgateModel

/// `isolation:` of a job or of `defaults`.
extension PipelineDecoder {
    static let isolationKeys = ["network", "workspace"]

    func decodeIsolation(_ node: YAMLNode, base: JobIsolation) -> JobIsolation? {
        guard let entries = reader.mapping(node, what: "`isolation`", allowed: Self.isolationKeys) else { return nil }
        var isolation = base
        for entry in entries {
            guard let text = reader.scalar(entry.value, what: "`isolation.\(entry.key)`") else { continue }
            switch entry.key {
            case "network":
                guard let value = JobIsolation.Network(rawValue: text) else {
                    reader.error("`isolation.network` must be `shared` or `private`, got `\(text)`", at: entry.value)
                    continue
                }
                isolation.network = value
            case "workspace":
                if text != "shared" {
                    reader.error(
                        "`isolation.workspace: \(text)` is not available yet", at: entry.value,
                        hint: "give each job its own directories (`.venv-${{ matrix.python }}`), or serialize them with `resource-group`")
                }
            default: break
            }
        }
        return isolation
    }
}
