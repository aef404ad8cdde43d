import ShipgateExpressions

/// A job's `strategy.matrix`, expanded the way GitHub expands it.
///
/// Contract (docs.github.com, "Running variations of jobs in a workflow"):
/// - The base combinations are the product of every key other than `include` and `exclude`,
///   in the order written, the first key varying slowest.
/// - `exclude` entries remove every combination they match; a partial entry matches every
///   combination that has its values. Each `exclude` key must be a key of the matrix.
/// - Then each `include` entry, in order, is added to every base combination (after
///   `exclude`) it can join without overwriting one of that combination's original values;
///   values added by an earlier `include` may be overwritten. An entry that joins none becomes
///   a combination of its own. Entries never join combinations that other entries created.
/// - A matrix of only `include` entries is those entries. At most `limit` (256) combinations.
public struct Matrix: Sendable {
    /// One job variant: its values, original keys first, then keys added by `include`.
    public struct Combination: Sendable {
        public var values: [(key: String, value: ExpressionValue)]

        public subscript(key: String) -> ExpressionValue? { values.first { $0.key.lowercased() == key.lowercased() }?.value }

        /// The `matrix` context of the variant.
        public var context: ExpressionValue { .object(ExpressionObject(values.map { ($0.key, $0.value) })) }

        /// How GitHub names the variant's job: `build (ubuntu-latest, 3.12)`.
        public func jobName(_ base: String) -> String {
            values.isEmpty ? base : base + " (" + values.map { Matrix.label($0.value) }.joined(separator: ", ") + ")"
        }
    }

    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static let limit = 256

    /// Expands `matrix` (an object as written, or as an expression produced it).
    public static func expand(_ matrix: ExpressionValue) throws(Problem) -> [Combination] {
        guard case .object(let object) = matrix else { throw Problem(message: "`matrix` must be a mapping of keys to lists of values, got \(kind(matrix))") }
        var vectors: [(String, [ExpressionValue])] = []
        var include: [ExpressionObject] = []
        var exclude: [ExpressionObject] = []
        for (key, value) in zip(object.keys, object.orderedValues) {
            switch key.lowercased() {
            case "include": include = try entries(value, of: "include")
            case "exclude": exclude = try entries(value, of: "exclude")
            default:
                guard case .array(let list) = value else { throw Problem(message: "matrix key `\(key)` must be a list of values, got \(kind(value))") }
                guard !list.items.isEmpty else { throw Problem(message: "matrix key `\(key)` is an empty list: the matrix would have no job") }
                vectors.append((key, list.items))
            }
        }
        let keys = Set(vectors.map { $0.0.lowercased() })
        for entry in exclude {
            for key in entry.keys where !keys.contains(key.lowercased()) {
                throw Problem(message: "matrix `exclude` key `\(key)` is not a key of the matrix (\(vectors.map(\.0).joined(separator: ", ")))")
            }
        }
        var base: [Combination] = vectors.isEmpty ? [] : [Combination(values: [])]
        for (key, values) in vectors {
            // `exclude` can only remove combinations: a product this large cannot come back under the limit
            // in any workflow worth running, and building it would take the machine's memory.
            let (product, overflow) = base.count.multipliedReportingOverflow(by: values.count)
            if overflow || product > limit * 64 {
                throw Problem(message: "the matrix has more than \(limit * 64) combinations before `exclude`; GitHub allows at most \(limit)")
            }
            var next: [Combination] = []
            next.reserveCapacity(base.count * values.count)
            for combination in base {
                for value in values {
                    var c = combination
                    c.values.append((key, value))
                    next.append(c)
                }
            }
            base = next
        }
        base.removeAll { combination in
            exclude.contains { entry in zip(entry.keys, entry.orderedValues).allSatisfy { same(combination[$0.0], $0.1) } }
        }
        var combinations = base
        var extra: [Combination] = []
        for entry in include {
            var joined = false
            for i in combinations.indices {
                let conflicts = zip(entry.keys, entry.orderedValues).contains { key, value in
                    keys.contains(key.lowercased()) && combinations[i][key].map { !same($0, value) } ?? false
                }
                guard !conflicts else { continue }
                joined = true
                for (key, value) in zip(entry.keys, entry.orderedValues) {
                    if let at = combinations[i].values.firstIndex(where: { $0.key.lowercased() == key.lowercased() }) {
                        if !keys.contains(key.lowercased()) { combinations[i].values[at].value = value }
                    } else {
                        combinations[i].values.append((key, value))
                    }
                }
            }
            if !joined { extra.append(Combination(values: zip(entry.keys, entry.orderedValues).map { ($0, $1) })) }
        }
        let all = combinations + extra
        guard !all.isEmpty else { throw Problem(message: "the matrix has no combination left (every one is excluded)") }
        guard all.count <= limit else { throw Problem(message: "the matrix has \(all.count) combinations; GitHub allows at most \(limit)") }
        return all
    }

    private static func entries(_ value: ExpressionValue, of what: String) throws(Problem) -> [ExpressionObject] {
        guard case .array(let list) = value else { throw Problem(message: "matrix `\(what)` must be a list of mappings, got \(kind(value))") }
        var out: [ExpressionObject] = []
        for item in list.items {
            guard case .object(let o) = item else { throw Problem(message: "each matrix `\(what)` entry must be a mapping, got \(kind(item))") }
            out.append(o)
        }
        return out
    }

    /// Values match when their JSON is the same (objects and arrays by content).
    static func same(_ a: ExpressionValue?, _ b: ExpressionValue) -> Bool {
        guard let a else { return false }
        return json(a) == json(b)
    }

    static func json(_ v: ExpressionValue) -> String { v.json }

    static func label(_ v: ExpressionValue) -> String {
        switch v {
        case .array, .object: json(v).split(separator: "\n").map { $0.trimmingPrefix(while: \.isWhitespace) }.joined(separator: " ")
        default: v.text
        }
    }

    static func kind(_ v: ExpressionValue) -> String {
        switch v {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "a mapping"
        }
    }
}

extension Substring {
    fileprivate func trimmingPrefix(while predicate: (Character) -> Bool) -> Substring { self.drop(while: predicate) }
}
