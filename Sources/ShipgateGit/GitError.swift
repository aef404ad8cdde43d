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

    /// The bytes of the blob `spec` (`<commit>:<path>`) names in `repository`, or nil when it
    /// names nothing or not a blob. Reads the object database only.
    static func blob(_ repository: OpaquePointer, _ spec: String) -> [UInt8]? {
        var object: OpaquePointer?
        guard git_revparse_single(&object, repository, spec) == 0, let object else { return nil }
        defer { git_object_free(object) }
        guard git_object_type(object) == GIT_OBJECT_BLOB else { return nil }
        let size = Int(git_blob_rawsize(object))
        guard let raw = git_blob_rawcontent(object) else { return size == 0 ? [] : nil }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }
}
