import Foundation
import ShipgateCache
import ShipgateModel

/// Why a job ran or was restored, written to `<run>/cache/<job>.json` for `shipgate explain`.
public struct CacheDecision: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Restored from an entry.
        case hit
        /// Ran: no entry for the key (see `reasons`).
        case miss
        /// Ran without the cache: the key could not be computed (see `reasons`).
        case error
    }

    public var job: String
    public var status: Status
    public var key: String?
    public var reasons: [String]
    /// For hits: the run that produced the entry, and where it was found (`local`, `remote`).
    public var cachedFrom: String?
    public var source: String?
    public var components: KeyComponents?

    public init(
        job: String, status: Status, key: String? = nil, reasons: [String] = [], cachedFrom: String? = nil, source: String? = nil,
        components: KeyComponents? = nil
    ) {
        self.job = job
        self.status = status
        self.key = key
        self.reasons = reasons
        self.cachedFrom = cachedFrom
        self.source = source
        self.components = components
    }
}

extension CacheDecision {
    /// One compact JSON line, decodable as `CacheDecision`.
    public var jsonLine: String {
        var o = JSONObject()
        o.add("job", job)
        o.add("status", status.rawValue)
        o.add("key", key)
        o.add("reasons", raw: JSONObject.array(reasons))
        o.add("cachedFrom", cachedFrom)
        o.add("source", source)
        o.add("components", raw: components?.jsonText ?? "null")
        return o.text
    }

    /// The decision for `job` in a run directory's `cache.jsonl` (the last one, if several).
    public static func read(runDirectory: String, job: String) -> CacheDecision? {
        guard let data = FileManager.default.contents(atPath: runDirectory + "/cache.jsonl") else { return nil }
        var found: CacheDecision?
        for line in data.split(separator: 10) {
            if let d = try? JSONDecoder().decode(CacheDecision.self, from: Data(line)), d.job == job { found = d }
        }
        return found
    }
}
