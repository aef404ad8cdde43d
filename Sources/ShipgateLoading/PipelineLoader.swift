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
        let reader = NodeReader(file: file)
        var decoder = PipelineDecoder(reader: reader, source: SourceLines(String(decoding: bytes, as: UTF8.self)))
        let digest = "sha256:" + Hex.string(SHA256.hash(data: bytes))
        let pipeline = decoder.decode(document.root, digest: digest)
        let diagnostics = reader.diagnostics.sortedByLocation()
        return Result(pipeline: diagnostics.hasErrors ? nil : pipeline, partial: pipeline, diagnostics: diagnostics)
    }
}
