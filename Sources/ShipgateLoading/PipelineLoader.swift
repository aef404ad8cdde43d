import Crypto
import Foundation
import ShipgateModel

/// Loads a pipeline file into a validated `Pipeline`.
///
/// Contract: never throws for bad input; every problem of the file comes back in
/// `diagnostics`, located and sorted. `pipeline` is nil when any error was found.
public enum PipelineLoader {
    public struct Result: Sendable {
        /// The validated pipeline; nil when any error was found.
        public var pipeline: Pipeline?
        /// What could be decoded despite errors, so later passes (the job graph) can still
        /// report their own problems in the same run. Never execute it.
        public var partial: Pipeline? = nil
        public var diagnostics: [Diagnostic]
    }

    public static func load(path: String) -> Result {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDir: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
            let message =
                exists ? (isDir.boolValue ? "\(path) is a directory, not a pipeline file" : "cannot read \(path): permission denied") : "no such file: \(path)"
            return Result(
                pipeline: nil, diagnostics: [.error(message, at: nil, hint: exists ? nil : "pass the path of a pipeline YAML file, e.g. pipelines/ci.yml")])
        }
        return load(bytes: [UInt8](data), file: path)
    }

    public static func load(text: String, file: String) -> Result {
        load(bytes: Array(text.utf8), file: file)
    }

    public static func load(bytes: [UInt8], file: String) -> Result {
        let (document, syntax) = YAMLDocument.parse(bytes: bytes, file: file)
        guard let document else { return Result(pipeline: nil, diagnostics: syntax) }
        return decode(document, bytes: bytes, file: file)
    }

    private static func decode(_ document: YAMLDocument, bytes: [UInt8], file: String) -> Result {
        let reader = NodeReader(file: file)
        var decoder = PipelineDecoder(reader: reader, source: SourceLines(String(decoding: bytes, as: UTF8.self)))
        let digest = "sha256:" + Hex.string(SHA256.hash(data: bytes))
        let pipeline = decoder.decode(document.root, digest: digest)
        let diagnostics = reader.diagnostics.sortedByLocation()
        return Result(pipeline: diagnostics.hasErrors ? nil : pipeline, partial: pipeline, diagnostics: diagnostics)
    }
}

extension PipelineLoader {
    /// What a YAML file of a repository is, for collecting the trusted policy.
    public enum Kind: Sendable {
        /// Not a shipgate pipeline that declares environments (any other YAML file).
        case other
        /// A shipgate pipeline (top-level `jobs` and `environments`, no `on`), loaded.
        case pipeline(Result)
        /// Not YAML, but its lines read like a pipeline declaring environments (top-level
        /// `jobs:` and `environments:`): a broken pipeline, which a caller must not ignore.
        case brokenPipeline(String)
    }

    /// Classifies `bytes` (named `file` in diagnostics), loading it when it is a pipeline that
    /// declares environments. Cheap for files that do not mention `environments` at all (a byte
    /// search); the YAML is parsed once.
    public static func classify(bytes: [UInt8], file: String) -> Kind {
        let needle = Array("environments".utf8)
        guard bytes.count >= needle.count, bytes.indices.dropLast(needle.count - 1).contains(where: { bytes[$0..<$0 + needle.count].elementsEqual(needle) })
        else { return .other }
        let (document, syntax) = YAMLDocument.parse(bytes: bytes, file: file)
        guard let document else {
            let text = String(decoding: bytes, as: UTF8.self)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
            func topLevel(_ key: String) -> Bool { lines.contains { $0.hasPrefix(key + ":") || $0.hasPrefix("\"\(key)\":") } }
            if topLevel("environments") && topLevel("jobs") {
                return .brokenPipeline(syntax.first.map { $0.message + ($0.location.map { " (line \($0.line))" } ?? "") } ?? "it is not valid YAML")
            }
            return .other
        }
        guard case .mapping(let top) = document.root else { return .other }
        let keys = Set(top.pairs.compactMap { $0.key.scalar?.string })
        guard keys.contains("jobs") && keys.contains("environments") && !keys.contains("on") else { return .other }
        return .pipeline(decode(document, bytes: bytes, file: file))
    }
}
