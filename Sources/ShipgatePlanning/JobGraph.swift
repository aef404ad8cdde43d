import ShipgateModel

/// The job DAG after matrix expansion: nodes, edges, and a topological order.
///
/// Building it reports, as located diagnostics: unknown `needs` (with "did you mean"),
/// needs on a later stage, duplicate ids after expansion, and every dependency cycle with its
/// whole path. A graph is only returned when there are no errors.
public struct JobGraph: Sendable {
    public struct Node: Sendable {
        public var id: String
        public var definition: JobDefinition
        public var matrix: [MatrixValue]
        public var needs: [String]
        /// Ordering-only edges (`after:`), as variant ids; never also in `needs`.
        public var after: [String] = []
        /// Every job this one waits for: `needs`, then `after`.
        public var edges: [String] { needs + after }
    }

    /// Nodes in declaration order (variants in matrix order).
    public private(set) var nodes: [Node]
    private var index: [String: Int]

    public func node(_ id: String) -> Node? { index[id].map { nodes[$0] } }

    public static func variantID(_ job: String, _ matrix: [MatrixValue]) -> String {
        matrix.isEmpty ? job : "\(job) (\(matrix.map { "\($0.axis)=\($0.value)" }.joined(separator: ", ")))"
    }

    public static func build(_ pipeline: Pipeline) -> (JobGraph?, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        var nodes: [Node] = []
        var index: [String: Int] = [:]
        var variantsOf: [String: [String]] = [:]
        let stageIndex = Dictionary(pipeline.stages.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })

        for job in pipeline.jobs {
            let combos = job.matrix?.combinations() ?? [[]]
            for combo in combos {
                let id = variantID(job.id, combo)
                if index[id] != nil {
                    diagnostics.append(
                        .error(
                            "duplicate job id `\(id)` after matrix expansion", at: job.matrix?.location ?? job.location,
                            hint: "remove the repeated matrix value"))
                    continue
                }
                index[id] = nodes.count
                nodes.append(Node(id: id, definition: job, matrix: combo, needs: []))
                variantsOf[job.id, default: []].append(id)
            }
        }

        let declared = pipeline.jobs.map(\.id)
        let definitions = Dictionary(pipeline.jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // The variant ids `list` names, reporting unknown jobs and jobs of later stages.
        func targets(_ list: [Located<String>], verb: String, of job: JobDefinition) -> [String] {
            let myStage = job.stage.flatMap { stageIndex[$0] }
            var result: [String] = []
            for entry in list {
                guard let target = definitions[entry.value] else {
                    diagnostics.append(
                        .error(
                            "job `\(job.id)` \(verb) unknown job `\(entry.value)`", at: entry.location,
                            hint: Suggest.hint(for: entry.value, in: declared)))
                    continue
                }
                if let mine = myStage, let theirs = target.stage.flatMap({ stageIndex[$0] }), theirs > mine {
                    diagnostics.append(
                        .error(
                            "job `\(job.id)` (stage `\(job.stage!)`) \(verb) `\(target.id)` of the later stage `\(target.stage!)`",
                            at: entry.location, hint: "move `\(target.id)` to an earlier stage or `\(job.id)` to a later one"))
                    continue
                }
                result += variantsOf[target.id] ?? []
            }
            return result
        }

        for i in nodes.indices {
            let job = nodes[i].definition
            let myStage = job.stage.flatMap { stageIndex[$0] }
            var needs: [String] = []
            if let explicit = job.needs {
                needs = targets(explicit, verb: "needs", of: job)
            } else if let mine = myStage {
                for other in pipeline.jobs where other.stage.flatMap({ stageIndex[$0] }).map({ $0 < mine }) ?? false {
                    needs += variantsOf[other.id] ?? []
                }
            }
            var seen = Set<String>()
            nodes[i].needs = needs.filter { seen.insert($0).inserted }
            nodes[i].after = targets(job.after, verb: "runs after", of: job).filter { seen.insert($0).inserted }
        }

        let graph = JobGraph(nodes: nodes, index: index)
        diagnostics += graph.cycleDiagnostics()
        return (diagnostics.hasErrors ? nil : graph, diagnostics)
    }

    /// Every distinct cycle (reported once, at its first job), as `a -> b -> a` on declared ids.
    private func cycleDiagnostics() -> [Diagnostic] {
        // Cycles are found on declared jobs: variants of one job share their edges.
        var edges: [String: [String]] = [:]
        var order: [String] = []
        var location: [String: SourceLocation] = [:]
        var ordersOnly = Set<String>()  // jobs with `after:` edges
        for node in nodes {
            let job = node.definition.id
            if edges[job] == nil {
                order.append(job)
                location[job] = node.definition.location
                edges[job] = []
            }
            for need in node.edges {
                let target = nodes[index[need]!].definition.id
                if !edges[job]!.contains(target) { edges[job]!.append(target) }
            }
            if !node.after.isEmpty { ordersOnly.insert(job) }
        }
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var stack: [String] = []
        var reported = Set<Set<String>>()
        var diagnostics: [Diagnostic] = []

        func visit(_ job: String) {
            marks[job] = .visiting
            stack.append(job)
            for next in edges[job] ?? [] {
                switch marks[next] {
                case .visiting?:
                    let cycle = Array(stack[stack.lastIndex(of: next)!...])
                    if reported.insert(Set(cycle)).inserted {
                        // Start the printed cycle at the job declared first, for stable output.
                        let start = cycle.min { order.firstIndex(of: $0)! < order.firstIndex(of: $1)! }!
                        let k = cycle.firstIndex(of: start)!
                        let rotated = Array(cycle[k...] + cycle[..<k])
                        let path = (rotated + [start]).joined(separator: " -> ")
                        let kinds = cycle.contains(where: ordersOnly.contains) ? "`needs` or `after`" : "`needs`"
                        diagnostics.append(.error("dependency cycle: \(path)", at: location[start], hint: "remove one of these \(kinds) edges"))
                    }
                case .done?: continue
                case nil: visit(next)
                }
            }
            stack.removeLast()
            marks[job] = .done
        }
        for job in order where marks[job] == nil { visit(job) }
        return diagnostics
    }

    /// Kahn's algorithm by levels: each wave holds the jobs whose needs (within `ids`) are all in
    /// earlier waves, in declaration order. O(jobs + edges). Only valid on an acyclic graph.
    public func waves(of ids: Set<String>) -> [[String]] {
        var unmet = [Int](repeating: 0, count: nodes.count)
        var dependents = [[Int]](repeating: [], count: nodes.count)
        var current: [Int] = []
        for (i, node) in nodes.enumerated() where ids.contains(node.id) {
            for need in node.edges where ids.contains(need) {
                unmet[i] += 1
                dependents[index[need]!].append(i)
            }
            if unmet[i] == 0 { current.append(i) }
        }
        var waves: [[String]] = []
        while !current.isEmpty {
            waves.append(current.map { nodes[$0].id })
            var next: [Int] = []
            for i in current {
                for d in dependents[i] {
                    unmet[d] -= 1
                    if unmet[d] == 0 { next.append(d) }
                }
            }
            current = next.sorted()
        }
        return waves
    }

    /// `ids` and everything they need, transitively.
    public func closure(of ids: [String]) -> Set<String> {
        var result = Set<String>()
        var queue = ids
        while let id = queue.popLast() {
            guard result.insert(id).inserted, let node = node(id) else { continue }
            queue += node.needs
        }
        return result
    }
}
