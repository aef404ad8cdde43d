/// A position in a pipeline file, 1-based, as editors and compilers print it.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:col`, the format every diagnostic starts with.
    public var description: String { "\(file):\(line):\(column)" }
}
