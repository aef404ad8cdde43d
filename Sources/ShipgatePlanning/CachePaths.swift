import ShipgateModel

extension Planner {
    /// A `caches.paths` pattern with `${{ matrix.AXIS }}` replaced by the variant's values (the
    /// loader allows no other expression there).
    static func cachePath(_ pattern: String, matrix: [MatrixValue]) -> String {
        guard pattern.contains(literal: "${{") else { return pattern }
        var out = ""
        var rest = Substring(pattern)
        while let open = rest.range(ofLiteral: "${{"), let close = rest[open.upperBound...].range(ofLiteral: "}}") {
            out += rest[..<open.lowerBound]
            let body = rest[open.upperBound..<close.lowerBound].split(whereSeparator: { $0 == " " || $0 == "\t" }).joined()
            if body.hasPrefix("matrix."), let value = matrix.first(where: { $0.axis[...] == body.dropFirst("matrix.".count) }) {
                out += value.value
            } else {
                out += rest[open.lowerBound..<close.upperBound]
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}
