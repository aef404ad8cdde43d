import CLibgit2

/// A libgit2 failure: its own message and the path involved.
public struct GitError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var path: String
    public var code: Int32

    public var description: String { "\(path): \(message)" }

    /// The last libgit2 error for a call that returned `code`.
    static func last(_ code: Int32, path: String, doing: String) -> GitError {
        let text = git_error_last().flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "error \(code)"
        return GitError(message: "\(doing): \(text)", path: path, code: code)
    }
}

/// libgit2 wants one global initialisation; this does it once, thread-safely.
enum Libgit2 {
    static let ready: Bool = git_libgit2_init() >= 0

    /// Runs a libgit2 call, turning a negative result into `GitError`.
    static func check(_ code: Int32, path: String, doing: String) throws(GitError) {
        if code < 0 { throw GitError.last(code, path: path, doing: doing) }
    }
}
