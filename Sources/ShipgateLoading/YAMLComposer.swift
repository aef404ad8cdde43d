import CYaml

/// A YAML node as the loader needs it: text, structure and 1-based positions.
///
/// Unlike a general YAML library, keeps duplicate mapping keys (the decoder reports them with
/// both locations) and does not resolve tags: every scalar is text plus its quoting style.
enum YAMLNode {
    case scalar(YAMLScalar)
    case mapping(YAMLMapping)
    case sequence(YAMLList)

    typealias Mark = YAMLMark
    typealias Scalar = YAMLScalar

    var mark: Mark {
        switch self {
        case .scalar(let s): s.mark
        case .mapping(let m): m.mark
        case .sequence(let s): s.mark
        }
    }

    var scalar: Scalar? { if case .scalar(let s) = self { s } else { nil } }
}

struct YAMLMark {
    var line: Int
    var column: Int
}

struct YAMLScalar {
    enum Style { case plain, singleQuoted, doubleQuoted, literal, folded }
    var string: String
    var style: Style
    var mark: YAMLMark
}

struct YAMLPair {
    var key: YAMLNode
    var value: YAMLNode
}

struct YAMLMapping {
    var pairs: [YAMLPair]
    var mark: YAMLMark
}

struct YAMLList {
    var items: [YAMLNode]
    var mark: YAMLMark
}

/// Builds a `YAMLNode` tree from libyaml's event stream. The only user of the C API.
///
/// Contract: bounded work on any input. Nesting is capped by libyaml (1000 levels); the size
/// of the tree *with aliases expanded* is counted while composing and composition stops at
/// `maxNodes`, so an alias bomb costs almost nothing. A stream of several documents is refused.
enum YAMLComposer {
    enum Failure: Error {
        case syntax(problem: String, context: String?, line: Int, column: Int)
        case tooLarge
        case multipleDocuments(line: Int)
        case undefinedAlias(String, line: Int, column: Int)
    }

    static func compose(_ bytes: [UInt8], maxNodes: Int) throws(Failure) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw .syntax(problem: "out of memory", context: nil, line: 1, column: 1) }
        defer { yaml_parser_delete(&parser) }
        return try bytes.withUnsafeBufferPointer { (buffer) throws(Failure) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = Builder(maxNodes: maxNodes)
            var documents = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
                    let context = parser.context.map { String(cString: $0) }
                    throw .syntax(problem: problem, context: context, line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1)
                }
                defer { yaml_event_delete(&event) }
                let mark = YAMLNode.Mark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return builder.root
                case YAML_DOCUMENT_START_EVENT:
                    documents += 1
                    if documents > 1 { throw .multipleDocuments(line: mark.line) }
                case YAML_SCALAR_EVENT:
                    let s = event.data.scalar
                    let text = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
                    let style: YAMLScalar.Style =
                        switch s.style {
                        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
                        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
                        case YAML_LITERAL_SCALAR_STYLE: .literal
                        case YAML_FOLDED_SCALAR_STYLE: .folded
                        default: .plain
                        }
                    try builder.add(.scalar(.init(string: text, style: style, mark: mark)), size: 1, anchor: anchorName(s.anchor))
                case YAML_ALIAS_EVENT:
                    let name = anchorName(event.data.alias.anchor) ?? ""
                    guard let (node, size) = builder.anchors[name] else { throw .undefinedAlias(name, line: mark.line, column: mark.column) }
                    try builder.add(node, size: size, anchor: nil)
                case YAML_SEQUENCE_START_EVENT:
                    builder.open(mapping: false, mark: mark, anchor: anchorName(event.data.sequence_start.anchor))
                case YAML_MAPPING_START_EVENT:
                    builder.open(mapping: true, mark: mark, anchor: anchorName(event.data.mapping_start.anchor))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    try builder.close()
                default:
                    continue
                }
            }
        }
    }

    private static func anchorName(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    /// The stack of open collections; sizes count alias expansions.
    private struct Builder {
        /// A collection being filled, its children kept apart from the node so that appending
        /// mutates the one copy in `stack` (appending to a node's array inside an enum payload
        /// copied the array each time: quadratic in a mapping's size).
        struct Open {
            var isMapping: Bool
            var mark: YAMLMark
            var items: [YAMLNode] = []
            var pairs: [YAMLPair] = []
            var size: Int
            var anchor: String?
            var pendingKey: YAMLNode?

            var node: YAMLNode { isMapping ? .mapping(.init(pairs: pairs, mark: mark)) : .sequence(.init(items: items, mark: mark)) }
        }

        let maxNodes: Int
        var stack: [Open] = []
        var anchors: [String: (YAMLNode, Int)] = [:]
        var root: YAMLNode?
        var total = 0

        mutating func open(mapping: Bool, mark: YAMLMark, anchor: String?) {
            stack.append(Open(isMapping: mapping, mark: mark, size: 1, anchor: anchor))
        }

        mutating func close() throws(Failure) {
            let done = stack.removeLast()
            try add(done.node, size: done.size, anchor: done.anchor)
        }

        mutating func add(_ node: YAMLNode, size: Int, anchor: String?) throws(Failure) {
            total = total.addingReportingOverflow(size).overflow ? .max : total + size
            if total > maxNodes { throw .tooLarge }
            if let anchor { anchors[anchor] = (node, size) }
            guard !stack.isEmpty else {
                root = node
                return
            }
            let top = stack.count - 1
            stack[top].size = min(maxNodes + 1, stack[top].size + size)
            if !stack[top].isMapping {
                stack[top].items.append(node)
            } else if let key = stack[top].pendingKey {
                stack[top].pairs.append(YAMLPair(key: key, value: node))
                stack[top].pendingKey = nil
            } else {
                stack[top].pendingKey = node
            }
        }
    }
}
