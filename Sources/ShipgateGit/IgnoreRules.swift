import CLibgit2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which workspace paths git ignores (`.gitignore`, `.git/info/exclude`, `core.excludesFile`),
/// as `git status` sees them: a tracked file is never ignored, nor a directory holding one.
///
/// Contract: answers for workspace-relative paths; a path inside an ignored directory is
/// ignored. Answers are remembered for the object's lifetime (one run). Thread-safe: libgit2
/// calls are serialized on one repository handle.
public final class IgnoreRules: @unchecked Sendable {
    private let repository: Repository
    private let prefix: String
    private var tracked: Set<String> = []
    private var trackedDirectories: Set<String> = []
    private var answers: [String: Bool] = [:]
    private let lock = IgnoreLock()

    /// The rules of the repository holding `workspace`; nil outside a repository.
    public init?(workspace: String) {
        guard let repository = try? Repository.discover(at: workspace) else { return nil }
        self.repository = repository
        let workspacePath = workspace.hasSuffix("/") ? String(workspace.dropLast()) : workspace
        prefix = workspacePath.count > repository.workdir.count ? String(workspacePath.dropFirst(repository.workdir.count + 1)) + "/" : ""
        var index: OpaquePointer?
        guard git_repository_index(&index, repository.pointer) == 0, let index else { return }
        defer { git_index_free(index) }
        for i in 0..<git_index_entrycount(index) {
            guard let e = git_index_get_byindex(index, i)?.pointee, let path = e.path else { continue }
            var p = Substring(String(cString: path))
            tracked.insert(String(p))
            while let slash = p.lastIndex(of: "/") {
                p = p[..<slash]
                if !trackedDirectories.insert(String(p)).inserted { break }
            }
        }
    }

    /// Whether git ignores `relative` (a file, or with `isDirectory` a directory).
    public func isIgnored(_ relative: String, isDirectory: Bool) -> Bool {
        let path = prefix + relative
        return lock.withLock {
            if isDirectory ? trackedDirectories.contains(path) : tracked.contains(path) { return false }
            let key = isDirectory ? path + "/" : path
            if let known = answers[key] { return known }
            var ignored: Int32 = 0
            let answer = git_ignore_path_is_ignored(&ignored, repository.pointer, key) == 0 && ignored == 1
            answers[key] = answer
            return answer
        }
    }
}

/// A pthread mutex for `IgnoreRules`.
final class IgnoreLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
