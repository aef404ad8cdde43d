import Foundation
import Prometheus
import ShipgateState

/// `/metrics`: Prometheus text built from the state store's aggregates at each scrape, so every
/// console replica (and a restart) reports the same totals.
enum ConsoleMetrics {
    static let durationBuckets: [Double] = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600]

    static func render(_ m: StateMetrics, now: Date) -> String {
        let registry = PrometheusCollectorRegistry()
        for (status, n) in m.runsByStatus.sorted(by: { $0.key < $1.key }) {
            registry.makeGauge(name: "shipgate_runs", labels: [("status", status)], help: "Runs in the state store, by status.").set(to: Double(n))
        }
        for (status, n) in m.jobsByStatus.sorted(by: { $0.key < $1.key }) {
            registry.makeGauge(name: "shipgate_jobs", labels: [("status", status)], help: "Jobs recorded, by status.").set(to: Double(n))
        }
        let histogram = registry.makeValueHistogram(
            name: "shipgate_job_duration_seconds", buckets: durationBuckets, help: "Duration of jobs that ran (succeeded or failed).")
        for ms in m.jobDurationsMs { histogram.record(Double(ms) / 1000) }
        let cached = m.jobsByStatus["cached"] ?? 0
        let ran = (m.jobsByStatus["success"] ?? 0) + (m.jobsByStatus["failed"] ?? 0)
        registry.makeGauge(name: "shipgate_cache_hit_ratio", help: "Cached jobs over jobs that were cached or ran.")
            .set(to: cached + ran == 0 ? 0 : Double(cached) / Double(cached + ran))
        for (status, n) in m.gatesByStatus.sorted(by: { $0.key < $1.key }) {
            registry.makeGauge(name: "shipgate_gate_verdicts", labels: [("status", status)], help: "Gate evaluations, by their latest verdict.")
                .set(to: Double(n))
        }
        registry.makeGauge(name: "shipgate_pending_approvals", help: "Deploys blocked at a gate now.").set(to: Double(m.pendingApprovals))
        let oldest = m.oldestPendingAt.flatMap(StateTime.date).map { max(0, now.timeIntervalSince($0)) } ?? 0
        registry.makeGauge(name: "shipgate_oldest_pending_approval_age_seconds", help: "Age of the oldest blocked deploy (0 when none).")
            .set(to: oldest)
        for (status, n) in m.deploymentsByStatus.sorted(by: { $0.key < $1.key }) {
            registry.makeGauge(name: "shipgate_deploys", labels: [("status", status)], help: "Releases, by status.").set(to: Double(n))
        }
        registry.makeGauge(name: "shipgate_rollbacks", help: "Releases that were rollbacks (automatic or by hand).").set(to: Double(m.rollbacks))
        return registry.emitToString()
    }
}
