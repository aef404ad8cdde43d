import Foundation
import ShipgateEngine

/// Results of needed jobs that ran on other runners, read from `SHIPGATE_NEEDS`: GitHub's
/// `needs` context as JSON (`${{ toJSON(needs) }}`), in which each exported job publishes
/// shipgate's `jobs` (id → status) and `outputs` (id → outputs) as job outputs.
enum ExternalNeeds {
    /// Direct needs get their status and outputs; every other job whose status a need published
    /// (its own needs, transitively) is added too, so `requires` sees jobs further up the DAG.
    static func results(_ needs: [String], declared: [String: String], continueOnError: [String: Bool], json: String?) -> [String: JobResult] {
        let context = json.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
        var results: [String: JobResult] = [:]
        func published(_ entry: [String: Any]?, _ key: String) -> [String: Any] {
            ((entry?["outputs"] as? [String: Any])?[key] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                ?? [:]
        }
        for id in needs {
            let entry = context[declared[id] ?? id] as? [String: Any]
            var status: JobStatus = .success
            if let recorded = (published(entry, "jobs")[id] as? String).flatMap(JobStatus.init(rawValue:)) {
                status = recorded
            } else if let result = entry?["result"] as? String {
                status = ["success": .success, "failure": .failed, "skipped": .skipped, "cancelled": .cancelled][result] ?? .success
            }
            var r = JobResult(
                id: id, status: status, reason: entry == nil ? "ran elsewhere (--no-deps)" : "ran in another GitHub job",
                continueOnError: continueOnError[id] ?? false)
            r.outputs = (published(entry, "outputs")[id] as? [String: String]) ?? [:]
            // No published result: dependents may run, but no gate may count it as succeeded.
            if entry == nil { r.unconfirmed = true }
            results[id] = r
        }
        for case let entry as [String: Any] in context.values {
            for (id, value) in published(entry, "jobs") where results[id] == nil {
                guard let status = (value as? String).flatMap(JobStatus.init(rawValue:)) else { continue }
                results[id] = JobResult(id: id, status: status, reason: "ran in another GitHub job", continueOnError: continueOnError[id] ?? false)
            }
        }
        return results
    }
}
