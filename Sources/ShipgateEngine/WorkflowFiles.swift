import Foundation
import ShipgateCache
import ShipgateModel

/// Files of the workspace matched by GitHub-style patterns (`**`, `*`, `?`, `[…]`, a leading `!`
/// excludes), walked depth first with each directory's entries in byte order, which is the
/// order GitHub's runner hashes them in. Links to files are followed (as GitHub's globber
/// does); links to directories are not entered.
enum WorkflowHashFiles {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Absolute paths of the regular files under `root` the patterns match. `skip` names
    /// directories (relative to `root`) never entered: shipgate's state directory, whose run
    /// records, artifact copies and temporary files are no part of the repository. Without
    /// `includeHidden`, a file is left out when a component of its path below `hiddenBelow`
    /// (default `root`) starts with `.` (upload-artifact's rule).
    static func match(_ patterns: [String], root: String, includeHidden: Bool = true, hiddenBelow: String? = nil, skip: Set<String> = []) -> [String] {
        var includes: [Glob] = []
        var excludes: [Glob] = []
        for raw in patterns {
            var p = raw.trimmingSpaces.description
            if p.isEmpty || p.hasPrefix("#") { continue }
            let exclude = p.hasPrefix("!")
            if exclude { p.removeFirst() }
            if root != "/", p.hasPrefix(root + "/") { p = String(p.dropFirst(root.count + 1)) }
            if root == "/", p.hasPrefix("/") { p.removeFirst() }
            if p == "." || p == "./" { p = "**" }
            (exclude ? { excludes.append(Glob(p)) } : { includes.append(Glob(p)) })()
        }
        guard !includes.isEmpty else { return [] }
        var out: [String] = []
        let base = root == "/" ? "" : root
        // Components above `root` that are below `hiddenBelow` count too (`path: .venv/`).
        var hiddenAbove = false
        if !includeHidden, let below = hiddenBelow, root.hasPrefix(below + "/") {
            hiddenAbove = root.dropFirst(below.count + 1).split(separator: "/").contains { $0.hasPrefix(".") }
        }
        if hiddenAbove { return [] }
        func walk(_ relative: String) {
            let dir = relative.isEmpty ? (root == "/" ? "/" : root) : base + "/" + relative
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                if !includeHidden && name.hasPrefix(".") { continue }
                let rel = relative.isEmpty ? name : relative + "/" + name
                let full = dir + "/" + name
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                var mode = st.st_mode & S_IFMT
                if mode == S_IFLNK {
                    var target = stat()
                    guard stat(full, &target) == 0 else { continue }
                    mode = target.st_mode & S_IFMT
                    if mode == S_IFDIR { continue }
                }
                if mode == S_IFDIR {
                    // Enter only directories some pattern can still match below.
                    if !skip.contains(rel), includes.contains(where: { $0.mayMatchBelow(rel) }) { walk(rel) }
                } else if mode == S_IFREG, includes.contains(where: { $0.matches(rel) }), !excludes.contains(where: { $0.matches(rel) }) {
                    out.append(full)
                }
            }
        }
        walk("")
        return out
    }

    /// GitHub's `hashFiles`: SHA-256 over the SHA-256 of each matched file, in walk order; the
    /// empty string when nothing matches.
    static func hash(_ patterns: [String], root: String, skip: Set<String> = []) throws -> String {
        let files = match(patterns, root: root, skip: skip)
        guard !files.isEmpty else { return "" }
        var digests: [UInt8] = []
        for file in files {
            let resolved =
                (try? FileManager.default.destinationOfSymbolicLink(atPath: file)).map {
                    $0.hasPrefix("/") ? $0 : ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent($0)
                } ?? file
            do { digests += Hex.bytes(try Digest.file(resolved).digest) ?? [] } catch { throw Failure(description: "hashFiles: \(error)") }
        }
        return Digest.sha256(digests)
    }

    static func onPath(_ name: String, path: String?) -> Bool {
        (path ?? "/usr/bin:/bin").split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
    }
}
