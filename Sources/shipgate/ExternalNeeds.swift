import Foundation
import ShipgateEngine

/// Results of needed jobs that ran on other runners, read from `SHIPGATE_NEEDS`: GitHub's
/// `needs` context as JSON (`${{ toJSON(needs) }}`), in which each exported job publishes
/// shipgate's `jobs` (id → status) and `outputs` (id → outputs) as job outputs.
enum ExternalNeeds {
    static func results(_ needs: [String], declared: [String: String], json: String?) -> [String: JobResult] {
        let context = json.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
        var results: [String: JobResult] = [:]
        for id in needs {
            let entry = context[declared[id] ?? id] as? [String: Any]
            let published = entry?["outputs"] as? [String: Any]
            func object(_ key: String) -> [String: Any] {
                (published?[key] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
            }
            var status: JobStatus = .success
            if let recorded = (object("jobs")[id] as? String).flatMap(JobStatus.init(rawValue:)) {
                status = recorded
            } else if let result = entry?["result"] as? String {
                status = ["success": .success, "failure": .failed, "skipped": .skipped, "cancelled": .cancelled][result] ?? .success
            }
            var r = JobResult(id: id, status: status, reason: entry == nil ? "ran elsewhere (--no-deps)" : "ran in another GitHub job")
            r.outputs = (object("outputs")[id] as? [String: String]) ?? [:]
            results[id] = r
        }
        return results
    }
}
