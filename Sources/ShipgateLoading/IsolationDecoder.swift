import Foundation
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
                guard let value = JobIsolation.Workspace(rawValue: text) else {
                    reader.error("`isolation.workspace` must be `shared` or `private`, got `\(text)`", at: entry.value)
                    continue
                }
                isolation.workspace = value
            default: break
            }
        }
        return isolation
    }

    static let toolchainKeys = ["python", "node", "go"]

    /// `toolchain: { python: "3.12", node: "20", go: "1.22" }`: versions as written (a YAML
    /// number keeps its text, so `3.10` stays `3.10`), `${{ matrix.AXIS }}` allowed.
    func decodeToolchain(_ node: YAMLNode) -> [ToolchainRequest] {
        guard let entries = reader.mapping(node, what: "`toolchain`", allowed: Self.toolchainKeys) else { return [] }
        return entries.compactMap { entry in
            guard let version = reader.nonEmptyString(entry.value, what: "`toolchain.\(entry.key)`") else { return nil }
            let plain = version.replacingOccurrences(of: #"\$\{\{ *matrix\.[A-Za-z0-9_-]+ *\}\}"#, with: "1", options: .regularExpression)
            guard plain.allSatisfy({ $0.isNumber || $0 == "." }), plain.first?.isNumber == true else {
                reader.error(
                    "`toolchain.\(entry.key)` must be a version like `3.12` (or `${{ matrix.AXIS }}`), got `\(version)`", at: entry.value)
                return nil
            }
            let normalized = version.replacingOccurrences(of: #"\$\{\{ *matrix\.([A-Za-z0-9_-]+) *\}\}"#, with: "${{ matrix.$1 }}", options: .regularExpression)
            return ToolchainRequest(tool: entry.key, version: normalized, location: reader.location(entry.value))
        }
    }
}
