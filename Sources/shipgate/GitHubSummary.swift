import Foundation
import ShipgateGate
import ShipgatePlanning
import ShipgateRelease
import ShipgateReport
import ShipgateState

/// The parts of the GitHub step summary that come from the state store: gate verdicts and
/// deployments of the run, then the DAG as a Mermaid graph.
enum GitHubSummary {
    static func sections(store: (any StateStore)?, runID: String, plan: ExecutionPlan) async -> String {
        var md = ""
        let gates = await (try? store?.gates(ofRun: runID)) ?? []
        if !gates.isEmpty {
            md += "\n### Gates\n\n"
            for g in gates.sorted(by: { $0.job < $1.job }) {
                md += "- **\(GitHubReporter.cell(g.environment))** (`\(g.job)`): \(g.status == "passed" ? "✅ passed" : "⛔ blocked")\n"
                if let d = try? JSONDecoder().decode(GateDecision.self, from: Data(g.decision.utf8)) {
                    for r in d.rules { md += "  - \(r.passed ? "✓" : "✗") \(r.rule): \(GitHubReporter.cell(r.detail))\n" }
                    for r in d.refused { md += "  - ✗ \(r.summary) not counted: \(GitHubReporter.cell(r.reason))\n" }
                }
                if g.status == "blocked" {
                    md += "  - → `shipgate approve \(runID) --env \(g.environment) --key KEYFILE`, then `shipgate resume \(runID)`\n"
                }
            }
        }
        let deployments = await ((try? store?.deployments(environment: nil, limit: 200)) ?? []).filter { $0.runID == runID }
        if !deployments.isEmpty {
            md += "\n### Deployments\n\n| Environment | Release | Version | Commit | Status | Approved by |\n|---|---|---|---|---|---|\n"
            for d in deployments.reversed() {
                md +=
                    "| \(d.environment) | `\(d.release)` | \(GitHubReporter.cell(d.version ?? "–")) | `\((d.commitID ?? "–").prefix(7))` | \(d.status) | \(d.approvedBy.isEmpty ? "–" : GitHubReporter.cell(d.approvedBy)) |\n"
            }
        }
        md += "\n### Graph\n\n```mermaid\n" + GraphRenderer.render(plan, as: .mermaid) + "```\n"
        return md
    }
}
