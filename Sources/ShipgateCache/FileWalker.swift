import ShipgateModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Lists the files under a workspace that a `PathFilter` selects.
///
/// Contract: paths are workspace-relative, `/`-separated, sorted. Symbolic links are listed
/// as entries and never followed, so a walk cannot leave the workspace or loop. Directories
/// whose relative path is in `skip` (the state directory), and every `.git`, are not entered. Directory listings are
/// cached for the walker's lifetime, so many jobs sharing a tree read it once. With an `ignored`
/// predicate (git's ignore rules, for `inputs`), ignored directories are not entered and ignored
/// files not listed, unless a pattern without wildcards names them (or a directory above them).
public final class FileWalker: @unchecked Sendable {
    public let root: String
    private let skip: Set<String>
    private var listings: [String: [(name: String, isDirectory: Bool)]] = [:]
    private let lock = NSLockish()

    public init(root: String, skip: Set<String> = [".git", ".shipgate"]) {
        self.root = root
        self.skip = skip
    }

    /// `ignored(path, isDirectory)` says whether git ignores a path (nil: nothing is ignored).
    public func files(matching filter: PathFilter, ignored: ((String, Bool) -> Bool)? = nil) -> [String] {
        var result: [String] = []
        let skipped: (String, Bool) -> Bool = { path, isDirectory in
            guard let ignored, !path.isEmpty else { return false }
            return ignored(path, isDirectory) && !filter.namesLiterally(path)
        }
        for start in filter.roots {
            let kind = Self.kind(root + (start.isEmpty ? "" : "/" + start))
            if kind == .file {
                if filter.includes(start) && !skipped(start, false) { result.append(start) }
                continue
            }
            guard kind == .directory, !skipped(start, true) else { continue }
            walk(start, filter, skipped, &result)
        }
        return Array(Set(result)).sorted()
    }

    private func walk(_ dir: String, _ filter: PathFilter, _ skipped: (String, Bool) -> Bool, _ out: inout [String]) {
        for entry in listing(dir) {
            let path = dir.isEmpty ? entry.name : dir + "/" + entry.name
            if entry.isDirectory {
                if !skip.contains(path) && entry.name != ".git" && !skipped(path, true) { walk(path, filter, skipped, &out) }
            } else if filter.includes(path) && !skipped(path, false) {
                out.append(path)
            }
        }
    }

    private func listing(_ dir: String) -> [(name: String, isDirectory: Bool)] {
        lock.lock()
        if let cached = listings[dir] {
            lock.unlock()
            return cached
        }
        lock.unlock()
        var entries: [(String, Bool)] = []
        let full = root + (dir.isEmpty ? "" : "/" + dir)
        if let handle = opendir(full) {
            while let item = readdir(handle) {
                let name = withUnsafePointer(to: item.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                if name == "." || name == ".." { continue }
                var isDirectory = item.pointee.d_type == DT_DIR
                if item.pointee.d_type == DT_UNKNOWN { isDirectory = Self.kind(full + "/" + name) == .directory }
                entries.append((name, isDirectory))
            }
            closedir(handle)
        }
        entries.sort { $0.0 < $1.0 }
        lock.lock()
        listings[dir] = entries
        lock.unlock()
        return entries
    }

    enum Kind { case file, directory, missing }

    /// What is at `path`, without following a final symlink (a link is a file entry).
    static func kind(_ path: String) -> Kind {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .missing }
        return (st.st_mode & S_IFMT) == S_IFDIR ? .directory : .file
    }
}

/// A tiny mutex usable from non-async code without Foundation.
final class NSLockish: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
