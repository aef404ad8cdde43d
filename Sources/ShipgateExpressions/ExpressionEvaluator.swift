/// What an expression can read and ask while it is evaluated.
///
/// `contexts` are looked up case-insensitively. `status` answers the status functions
/// (`success()`, `always()`, `failure()`, `cancelled()`) for the job or step being decided;
/// `hashFiles` computes GitHub's `hashFiles(…)`. Either may be nil where the function is not
/// available (GitHub allows status functions only in `if:`, `hashFiles` only in steps).
public struct ExpressionScope: Sendable {
    public enum Status: String, Sendable {
        case success, always, failure, cancelled
    }

    public var contexts: ExpressionObject
    public var status: (@Sendable (Status) -> Bool)?
    public var hashFiles: (@Sendable ([String]) throws -> String)?

    public init(
        contexts: ExpressionObject, status: (@Sendable (Status) -> Bool)? = nil, hashFiles: (@Sendable ([String]) throws -> String)? = nil
    ) {
        self.contexts = contexts
        self.status = status
        self.hashFiles = hashFiles
    }
}

extension Expression {
    /// Evaluates the expression. A context missing from the scope is an error (GitHub rejects
    /// unknown named values); a property missing from an object is `null`.
    public func evaluate(in scope: ExpressionScope) throws(ExpressionError) -> ExpressionValue {
        switch self {
        case .literal(let l):
            switch l {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .number(let n): return .number(n)
            case .string(let s): return .string(s)
            }
        case .context(let name):
            guard let value = scope.contexts[name] else { throw ExpressionError("unrecognized named-value: `\(name)`") }
            return value
        case .property(let base, let name):
            return Self.access(try base.evaluate(in: scope), key: .string(name))
        case .index(let base, let index):
            let key = try index.evaluate(in: scope)
            return Self.access(try base.evaluate(in: scope), key: key)
        case .star(let base):
            return Self.star(try base.evaluate(in: scope))
        case .not(let e):
            return .bool(!(try e.evaluate(in: scope)).isTruthy)
        case .binary(let op, let a, let b):
            let l = try a.evaluate(in: scope)
            let r = try b.evaluate(in: scope)
            switch op {
            case .equal: return .bool(Compare.equal(l, r))
            case .notEqual: return .bool(!Compare.equal(l, r))
            case .less: return .bool(Compare.less(l, r))
            case .lessOrEqual: return .bool(Compare.equal(l, r) || Compare.less(l, r))
            case .greater: return .bool(Compare.less(r, l))
            case .greaterOrEqual: return .bool(Compare.equal(l, r) || Compare.less(r, l))
            }
        case .and(let operands):
            var result = ExpressionValue.null
            for operand in operands {
                result = try operand.evaluate(in: scope)
                if !result.isTruthy { break }
            }
            return result
        case .or(let operands):
            var result = ExpressionValue.null
            for operand in operands {
                result = try operand.evaluate(in: scope)
                if result.isTruthy { break }
            }
            return result
        case .call(let name, let arguments):
            var values: [ExpressionValue] = []
            for argument in arguments { values.append(try argument.evaluate(in: scope)) }
            return try Functions.call(name, values, scope: scope)
        }
    }

    /// Index or property access: arrays by a non-negative number (floored), objects by the key's
    /// text; a filtered array maps the access over its items; anything else is `null`.
    static func access(_ base: ExpressionValue, key: ExpressionValue) -> ExpressionValue {
        let text: String? = key.isPrimitive ? key.text : nil
        let n = key.number
        let int: Int? = (!n.isNaN && n.isFinite && n >= 0 && n < Double(Int.max)) ? Int(n.rounded(.down)) : nil
        switch base {
        case .array(let array) where array.filtered:
            var found: [ExpressionValue] = []
            for item in array.items {
                switch item {
                case .object(let o): if let text, let v = o[text] { found.append(v) }
                case .array(let a): if let int, int < a.items.count { found.append(a.items[int]) }
                default: break
                }
            }
            return .array(ExpressionArray(found, filtered: true))
        case .array(let array):
            guard let int, int < array.items.count else { return .null }
            return array.items[int]
        case .object(let object):
            guard let text else { return .null }
            return object[text] ?? .null
        default:
            return .null
        }
    }

    /// `.*`: the values of an object or the items of an array, as a filtered array; over a
    /// filtered array, the values of its items flattened one level; `[]` for anything else.
    static func star(_ base: ExpressionValue) -> ExpressionValue {
        switch base {
        case .array(let array) where array.filtered:
            var found: [ExpressionValue] = []
            for item in array.items {
                switch item {
                case .object(let o): found += o.orderedValues
                case .array(let a): found += a.items
                default: break
                }
            }
            return .array(ExpressionArray(found, filtered: true))
        case .array(let array): return .array(ExpressionArray(array.items, filtered: true))
        case .object(let object): return .array(ExpressionArray(object.orderedValues, filtered: true))
        default: return .array(ExpressionArray([], filtered: true))
        }
    }
}

/// GitHub's loose comparisons: values of different kinds are compared as numbers (null 0,
/// booleans 1/0, strings by `Number(…)`), strings case-insensitively, NaN never equal or
/// ordered, arrays and objects equal only to themselves and never ordered.
enum Compare {
    static func coerced(_ l: ExpressionValue, _ r: ExpressionValue) -> (ExpressionValue, ExpressionValue) {
        if l.kindOrder == r.kindOrder { return (l, r) }
        switch (l, r) {
        case (.number, .string): return (l, .number(r.number))
        case (.string, .number): return (.number(l.number), r)
        case (.null, _), (.bool, _): return coerced(.number(l.number), r)
        case (_, .null), (_, .bool): return coerced(l, .number(r.number))
        default: return (l, r)
        }
    }

    static func equal(_ a: ExpressionValue, _ b: ExpressionValue) -> Bool {
        switch coerced(a, b) {
        case (.null, .null): true
        case (.number(let x), .number(let y)): !x.isNaN && !y.isNaN && x == y
        case (.string(let x), .string(let y)): ExpressionObject.fold(x) == ExpressionObject.fold(y)
        case (.bool(let x), .bool(let y)): x == y
        case (.array(let x), .array(let y)): x === y
        case (.object(let x), .object(let y)): x === y
        default: false
        }
    }

    static func less(_ a: ExpressionValue, _ b: ExpressionValue) -> Bool {
        switch coerced(a, b) {
        case (.number(let x), .number(let y)): !x.isNaN && !y.isNaN && x < y
        case (.string(let x), .string(let y)): ExpressionObject.fold(x).unicodeScalars.lexicographicallyPrecedes(ExpressionObject.fold(y).unicodeScalars)
        case (.bool(let x), .bool(let y)): !x && y
        default: false
        }
    }
}
