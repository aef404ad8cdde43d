import Foundation
import ShipgatePlanning

/// Draws the job DAG of a plan as Mermaid (for Markdown, GitHub) or Graphviz dot.
/// Node ids are generated (`j0`, `j1`, …) so any job id renders; labels carry the real ids.
public enum GraphRenderer {
    public enum Format: String, CaseIterable, Sendable {
        case mermaid
        case dot
    }

    public static func render(_ plan: ExecutionPlan, as format: Format) -> String {
        let ids = Dictionary(plan.jobs.enumerated().map { ($1.id, "j\($0)") }, uniquingKeysWith: { a, _ in a })
        switch format {
        case .mermaid:
            var out = "flowchart LR\n"
            let stages = plan.jobs.reduce(into: [String]()) { acc, job in if let s = job.stage, !acc.contains(s) { acc.append(s) } }
            for (n, stage) in stages.enumerated() {
                out += "  subgraph s\(n)[\(mermaidLabel(stage))]\n"
                for job in plan.jobs where job.stage == stage { out += "    \(ids[job.id]!)[\(mermaidLabel(job.id))]\n" }
                out += "  end\n"
            }
            for job in plan.jobs where job.stage == nil { out += "  \(ids[job.id]!)[\(mermaidLabel(job.id))]\n" }
            for job in plan.jobs { for need in job.needs { if let from = ids[need] { out += "  \(from) --> \(ids[job.id]!)\n" } } }
            for job in plan.jobs { for earlier in job.after { if let from = ids[earlier] { out += "  \(from) -.-> \(ids[job.id]!)\n" } } }
            return out
        case .dot:
            var out = "digraph \(dotQuote(plan.pipeline.name)) {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n"
            for job in plan.jobs { out += "  \(ids[job.id]!) [label=\(dotQuote(job.id))\(job.status == .skip ? ", style=\"rounded,dashed\"" : "")];\n" }
            for job in plan.jobs { for need in job.needs { if let from = ids[need] { out += "  \(from) -> \(ids[job.id]!);\n" } } }
            for job in plan.jobs { for earlier in job.after { if let from = ids[earlier] { out += "  \(from) -> \(ids[job.id]!) [style=dashed];\n" } } }
            return out + "}\n"
        }
    }

    static func mermaidLabel(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\"", with: "#quot;") + "\""
    }

    static func dotQuote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
