import Foundation
import ShipgateCache
import ShipgateExpressions
import ShipgateJobCache
import ShipgateModel
import ShipgatePlanning

/// What a native action step sees: its evaluated `with:` inputs and the job around it.
struct NativeActionContext {
    let job: PlannedJob
    let workspace: String
    let temp: String
    let inputs: [String: String]
    let env: [String: String]
    let log: JobLog
    let executor: JobExecutor
    var outputs: [String: String] = [:]

    func input(_ name: String) -> String? {
        guard let v = inputs[name]?.trimmingSpaces, !v.isEmpty else { return nil }
        return String(v)
    }

    /// A multi-line input (`path`, `restore-keys`): one entry per non-empty line.
    func lines(_ name: String) -> [String] {
        (inputs[name] ?? "").split(whereSeparator: \.isNewline).map { String($0.trimmingSpaces) }.filter { !$0.isEmpty }
    }

    func flag(_ name: String, default value: Bool = false) -> Bool {
        input(name).map { $0.lowercased() == "true" } ?? value
    }
}

/// The actions shipgate runs natively (see `NativeAction`), with the semantics of their
/// GitHub versions where they make sense on the host:
/// - `actions/checkout`: the working tree is used as it is (the run's workspace); another
///   repository or a `path` other than the workspace is refused with what to do instead.
/// - `actions/setup-python` / `setup-node` / `setup-go`: the version (`*-version`, else
///   `*-version-file`) is found among the toolchains on the machine (`ToolchainResolver`: the
///   tool cache, uv/pyenv/nvm/~/sdk, the system) and put first on `PATH`; none: the step fails
///   with the install hint.
/// - `actions/cache` (and `/restore`, `/save`): shipgate's dependency cache; `key`, multi-line
///   `path` (`~/` included), `restore-keys` by prefix with the newest entry winning, the outputs
///   `cache-hit` (exact key only), `cache-primary-key`, `cache-matched-key`; saved after the job
///   when it succeeded and the key missed; an existing key is never overwritten.
/// - `actions/upload-artifact` / `download-artifact` (v4): artifacts of this run, stored in
///   the run directory with a SHA-256 manifest and verified on download.
extension JobExecutor {
    func runNative(_ action: NativeAction, uses: String, context: inout NativeActionContext, state: inout WorkflowJobState) -> String? {
        switch action {
        case .checkout: return checkout(&context)
        case .setupPython: return setup("python", versionInput: "python-version", fileInput: "python-version-file", context: &context, state: &state)
        case .setupNode: return setup("node", versionInput: "node-version", fileInput: "node-version-file", context: &context, state: &state)
        case .setupGo: return setup("go", versionInput: "go-version", fileInput: "go-version-file", context: &context, state: &state)
        case .cache, .cacheRestore, .cacheSave: return dependencyCache(action, context: &context, state: &state)
        case .uploadArtifact: return uploadArtifact(&context)
        case .downloadArtifact: return downloadArtifact(&context)
        case .shipgate: return "shipgate's action runs as a process (runShipgateAction)"
        }
    }

    private func say(_ context: NativeActionContext, _ text: String) {
        emitLine(context.job.id, masker(text), context.log)
    }

    // MARK: - checkout

    private func checkout(_ context: inout NativeActionContext) -> String? {
        let github = options.workflow?.github
        let repository = github?["repository"]?.text ?? ""
        if let repo = context.input("repository"), repo.lowercased() != repository.lowercased() {
            return "actions/checkout of another repository (`\(repo)`) is not supported: shipgate runs in this working tree; clone it in a `run:` step"
        }
        if let path = context.input("path"), ![".", "./"].contains(path) {
            return "actions/checkout with `path: \(path)`: shipgate uses the working tree in place; remove `path:` (and adjust the steps' working-directory)"
        }
        let sha = github?["sha"]?.text ?? ""
        var notes: [String] = []
        if let ref = context.input("ref"), ref != sha, ref != github?["ref"]?.text, ref != github?["ref_name"]?.text {
            notes.append("`ref: \(ref)` is not checked out")
        }
        if let depth = context.input("fetch-depth"), depth != "1" { notes.append("the history is the repository's own (`fetch-depth: \(depth)` not applied)") }
        say(
            context,
            "actions/checkout: using the working tree at \(context.workspace) as it is (commit \(sha.prefix(7)))"
                + (notes.isEmpty ? "" : "; " + notes.joined(separator: "; ")) + "; run with --isolate for a clean checkout of HEAD")
        context.outputs = ["ref": github?["ref"]?.text ?? "", "commit": sha]
        return nil
    }

    // MARK: - setup-*

    private func setup(
        _ tool: String, versionInput: String, fileInput: String, context: inout NativeActionContext, state: inout WorkflowJobState
    ) -> String? {
        var spec = context.input(versionInput)?.split(whereSeparator: \.isNewline).last.map(String.init)
        if spec == nil {
            // setup-python reads `.python-version` by default; setup-node and setup-go only the file named.
            let file = context.input(fileInput) ?? (tool == "python" ? ".python-version" : nil)
            if let file {
                let path = file.hasPrefix("/") ? file : context.workspace + "/" + file
                if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                    spec = Self.versionFromFile(text, tool: tool, name: (file as NSString).lastPathComponent)
                } else if context.input(fileInput) != nil {
                    return "actions/setup-\(tool): `\(fileInput): \(file)` cannot be read"
                }
            }
        }
        let prefixes = Self.versionPrefixes(spec, tool: tool)
        guard !prefixes.isEmpty else {
            return "actions/setup-\(tool): version `\(spec ?? "")` is not one shipgate resolves (use a version like 3.12, 3.x or >=3.9)"
        }
        let environment = options.baseEnvironment.merging(["RUNNER_TOOL_CACHE": toolCache]) { $1 }
        let resolver = ToolchainResolver(environment: environment, shimDirectory: options.toolchainDirectory)
        var lastError = ""
        for prefix in prefixes {
            do {
                let found = try resolver.resolve(tool, version: prefix)
                for dir in found.path.reversed() {
                    state.path.removeAll { $0 == dir }
                    state.path.insert(dir, at: 0)
                }
                let bin = found.path.first ?? ""
                switch tool {
                case "python":
                    context.outputs = ["python-version": found.version, "python-path": bin + "/python", "cache-hit": "false"]
                    state.fileEnv["pythonLocation"] = (bin as NSString).deletingLastPathComponent
                case "node": context.outputs = ["node-version": "v" + found.version, "cache-hit": "false"]
                default: context.outputs = ["go-version": found.version, "cache-hit": "false"]
                }
                var note = ""
                if context.input("cache") != nil || context.flag("cache") { note = "; `cache:` is not applied (use actions/cache)" }
                say(context, "actions/setup-\(tool): \(tool) \(found.version) from \(found.source) (\(bin))\(note)")
                return nil
            } catch {
                lastError = "\(error)"
            }
        }
        return "actions/setup-\(tool) \(spec ?? ""): \(lastError)"
    }

    /// A version from a `*-version-file`: `.python-version` / `.nvmrc` lines, `.tool-versions`
    /// entries, `go.mod`'s `toolchain` or `go` line.
    static func versionFromFile(_ text: String, tool: String, name: String) -> String? {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingSpaces }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        if name == "go.mod" {
            if let t = lines.first(where: { $0.hasPrefix("toolchain go") }) { return String(t.dropFirst("toolchain go".count)) }
            return lines.first(where: { $0.hasPrefix("go ") }).map { String($0.dropFirst(3)).trimmingSpaces.description }
        }
        if name == ".tool-versions" {
            let key = tool == "python" ? "python" : tool == "node" ? "nodejs" : "golang"
            return lines.first(where: { $0.hasPrefix(key + " ") }).map { String($0.split(separator: " ").dropFirst().first ?? "") }
        }
        return lines.first.map(String.init)
    }

    /// The version prefixes `ToolchainResolver` is asked for, in order: `3.12` → `3.12`,
    /// `3.x` → `3`, `>=3.9` → `3`, `v20` → `20`, `lts/*` / `latest` / `stable` → the majors newest first.
    static func versionPrefixes(_ spec: String?, tool: String) -> [String] {
        guard var s = spec?.trimmingSpaces.description.lowercased(), !s.isEmpty else {
            return tool == "python" ? ["3"] : tool == "node" ? ["24", "22", "20", "18"] : ["1"]
        }
        if ["latest", "lts/*", "node", "lts", "stable", "oldstable", "*", "x"].contains(s) || s.hasPrefix("lts/") {
            return tool == "python" ? ["3"] : tool == "node" ? ["24", "22", "20", "18"] : ["1"]
        }
        // PyPy and GraalPy are not resolved; an upper bound (`<3.12`) is not either.
        if s.hasPrefix("pypy") || s.hasPrefix("graalpy") || s.hasPrefix("<") || s.contains(",") { return [] }
        while let c = s.first, "v^~=><".contains(c) || c == " " { s.removeFirst() }
        if s.hasPrefix("go") { s.removeFirst(2) }
        let parts = s.split(separator: ".").prefix { $0.allSatisfy(\.isNumber) }
        guard !parts.isEmpty else { return [] }
        let operatorSpec = spec!.contains(">") || spec!.contains("^")
        return [operatorSpec ? String(parts[0]) : parts.joined(separator: ".")]
    }

    // MARK: - cache

    private func dependencyCache(_ action: NativeAction, context: inout NativeActionContext, state: inout WorkflowJobState) -> String? {
        let name = action.rawValue
        guard let key = context.input("key") else { return "\(name): `key` is required" }
        let patterns = context.lines("path")
        guard !patterns.isEmpty else { return "\(name): `path` is required" }
        guard let cache else {
            say(context, "\(name): the cache is off for this run; nothing \(action == .cacheSave ? "saved" : "restored")")
            return nil
        }
        let paths: DependencyPaths
        do { paths = try DependencyPaths(patterns, home: options.baseEnvironment["HOME"]) } catch { return "\(name): \(error)" }
        if let absolute = patterns.first(where: { $0.hasPrefix("/") }) {
            return "\(name): absolute path `\(absolute)` is not cached by shipgate; use a workspace-relative path or `~/…`"
        }
        let entryName = DependencyEntry.name(key: key, paths: paths.patterns)
        let pending = PendingSave(
            key: key, cache: DependencyCache(key: Template(segments: [.literal(key)]), paths: [], location: context.job.location), paths: paths)
        if action == .cacheSave {
            if cache.local.peekEntry(.dependency, entryName, as: DependencyEntry.self) != nil {
                say(context, "\(name): an entry for `\(key)` exists; not saved (a key is never overwritten, as on GitHub)")
                return nil
            }
            saveDependencyCaches(context.job, missed: [pending], root: context.workspace, cache: cache)
            return nil
        }
        context.outputs["cache-primary-key"] = key
        let lookupOnly = context.flag("lookup-only")
        if let entry = cache.local.readEntry(.dependency, entryName, as: DependencyEntry.self) {
            if !lookupOnly {
                restoreEntry(
                    entry, paths: paths, job: context.job, root: context.workspace, cache: cache, message: "\(name): restored `\(key)` (\(entry.count) files)")
            }
            context.outputs["cache-hit"] = "true"
            context.outputs["cache-matched-key"] = key
            return nil
        }
        let candidates = cache.local.entries(.dependency).compactMap { cache.local.peekEntry(.dependency, $0.name, as: DependencyEntry.self) }
            .filter { $0.paths == paths.patterns }
        var matched: DependencyEntry?
        for prefix in context.lines("restore-keys") {
            if let best = candidates.filter({ $0.key.hasPrefix(prefix) }).max(by: { $0.createdAt < $1.createdAt }) {
                matched = best
                break
            }
        }
        if let matched {
            if !lookupOnly {
                restoreEntry(
                    matched, paths: paths, job: context.job, root: context.workspace, cache: cache,
                    message: "\(name): `\(key)` not found; restored `\(matched.key)`")
            }
            context.outputs["cache-hit"] = "false"
            context.outputs["cache-matched-key"] = matched.key
        } else {
            if context.flag("fail-on-cache-miss") { return "\(name): no entry for `\(key)` (fail-on-cache-miss)" }
            say(context, "\(name): no entry for `\(key)`\(action == .cache ? "; it is saved after the job if it succeeds" : "")")
        }
        if action == .cache && !lookupOnly {
            let job = context.job
            let root = context.workspace
            let executor = self
            state.posts.append(
                PostStep(name: "\(name) save `\(key)`", onlyOnSuccess: true) {
                    executor.saveDependencyCaches(job, missed: [pending], root: root, cache: cache)
                    return nil
                })
        }
        return nil
    }

    // MARK: - artifacts

    var artifactsDirectory: String { options.runDirectory.root + "/artifacts" }

    /// The state directory relative to `root`, when it is inside: what walks of the workspace skip.
    func stateSkip(_ root: String) -> Set<String> {
        let state = options.stateDirectory
        return state.hasPrefix(root + "/") ? [String(state.dropFirst(root.count + 1))] : []
    }

    private func uploadArtifact(_ context: inout NativeActionContext) -> String? {
        let name = context.input("name") ?? "artifact"
        guard Self.isArtifactName(name) else {
            return "actions/upload-artifact: the name `\(name)` may not contain \" : < > | * ? \\ / or line breaks"
        }
        let patterns = context.lines("path")
        guard !patterns.isEmpty else { return "actions/upload-artifact: `path` is required" }
        let home = options.baseEnvironment["HOME"] ?? ""
        let expanded = patterns.map { p -> String in
            let (bang, body) = p.hasPrefix("!") ? ("!", String(p.dropFirst())) : ("", p)
            let abs = Self.absolute(body, home: home, workspace: context.workspace)
            return bang + URL(fileURLWithPath: abs).standardizedFileURL.path
        }
        // The artifact's root: the least common ancestor of the search paths (their parts
        // before the first wildcard; a file's own directory).
        var searchRoots: [String] = []
        for p in expanded where !p.hasPrefix("!") {
            var parts = p.split(separator: "/", omittingEmptySubsequences: true).prefix { !$0.contains(where: { "*?[".contains($0) }) }.map(String.init)
            let literal = "/" + parts.joined(separator: "/")
            var isDir: ObjCBool = false
            if parts.count == p.split(separator: "/").count, FileManager.default.fileExists(atPath: literal, isDirectory: &isDir), !isDir.boolValue {
                parts.removeLast()
            }
            searchRoots.append("/" + parts.joined(separator: "/"))
        }
        var common = searchRoots.first.map { $0.split(separator: "/").map(String.init) } ?? []
        for r in searchRoots.dropFirst() {
            let parts = r.split(separator: "/").map(String.init)
            common = Array(zip(common, parts).prefix { $0 == $1 }.map(\.0))
        }
        let root = "/" + common.joined(separator: "/")
        let relativePatterns = expanded.map { p -> String in
            let (bang, body) = p.hasPrefix("!") ? ("!", String(p.dropFirst())) : ("", p)
            if body == root { return bang + "**" }
            return bang + (body.hasPrefix(root + "/") ? String(body.dropFirst(root == "/" ? 1 : root.count + 1)) : body)
        }
        let files = WorkflowHashFiles.match(
            relativePatterns, root: root, includeHidden: context.flag("include-hidden-files"), hiddenBelow: context.workspace,
            skip: stateSkip(context.workspace))
        if files.isEmpty {
            switch context.input("if-no-files-found") ?? "warn" {
            case "error": return "actions/upload-artifact: no files were found with the provided path: \(patterns.joined(separator: ", "))"
            case "ignore": return nil
            default:
                emitLine(
                    context.job.id,
                    "warning: actions/upload-artifact: no files were found with the provided path: \(patterns.joined(separator: ", ")); no artifact uploaded",
                    context.log)
                return nil
            }
        }
        let dir = artifactsDirectory + "/" + name
        let fm = FileManager.default
        if fm.fileExists(atPath: dir) {
            guard context.flag("overwrite") else {
                return "actions/upload-artifact: an artifact named `\(name)` was already uploaded in this run (set `overwrite: true` to replace it)"
            }
            try? fm.removeItem(atPath: dir)
        }
        var manifest = ""
        var total: Int64 = 0
        do {
            for file in files {
                let rel = String(file.dropFirst(root == "/" ? 1 : root.count + 1))
                let target = dir + "/files/" + rel
                try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                // The content of the file (a link's target, as upload-artifact stores it), hashed as it is written.
                let (digest, size) = try ArtifactFiles.copy(from: file, to: target)
                manifest += "\(digest)\t\(size)\t\(rel)\n"
                total += size
            }
            try manifest.write(toFile: dir + "/manifest.tsv", atomically: true, encoding: .utf8)
        } catch {
            try? fm.removeItem(atPath: dir)
            return "actions/upload-artifact `\(name)`: \(error)"
        }
        let digest = Digest.sha256(manifest)
        artifactManifests.withLock { $0[name] = digest }
        context.outputs = ["artifact-id": String(artifactManifests.value.count), "artifact-url": "file://" + dir, "artifact-digest": digest]
        say(context, "actions/upload-artifact: `\(name)`: \(files.count) file\(files.count == 1 ? "" : "s") (\(Self.bytes(total))) from \(root)")
        return nil
    }

    private func downloadArtifact(_ context: inout NativeActionContext) -> String? {
        if let run = context.input("run-id"), run != options.workflow?.github["run_id"]?.text {
            return "actions/download-artifact: artifacts of another run (`run-id: \(run)`) are not available locally"
        }
        let fm = FileManager.default
        let available = ((try? fm.contentsOfDirectory(atPath: artifactsDirectory)) ?? []).sorted()
        let home = options.baseEnvironment["HOME"] ?? ""
        let rawPath = context.input("path") ?? context.workspace
        let destination = Self.absolute(rawPath, home: home, workspace: context.workspace)
        var selected: [(name: String, into: String)] = []
        if let name = context.input("name") {
            guard available.contains(name) else {
                return "actions/download-artifact: no artifact named `\(name)` in this run"
                    + (available.isEmpty
                        ? " (none was uploaded yet: does this job `needs` the one that uploads it?)" : " (uploaded: \(available.joined(separator: ", ")))")
            }
            selected = [(name, destination)]
        } else {
            let pattern = context.input("pattern").map { Glob($0) }
            let merge = context.flag("merge-multiple")
            selected = available.filter { pattern?.matches($0) ?? true }.map { ($0, merge ? destination : destination + "/" + $0) }
            if selected.isEmpty && pattern != nil {
                return "actions/download-artifact: no artifact of this run matches `\(context.input("pattern")!)`"
            }
        }
        var count = 0
        for (name, into) in selected {
            let dir = artifactsDirectory + "/" + name
            guard let manifest = try? String(contentsOfFile: dir + "/manifest.tsv", encoding: .utf8) else {
                return "actions/download-artifact: artifact `\(name)` has no manifest (its upload did not finish)"
            }
            guard let uploaded = artifactManifests.value[name], Digest.sha256(manifest) == uploaded else {
                return "actions/download-artifact: the manifest of `\(name)` changed after upload (or it was not uploaded by this run); refusing it"
            }
            for line in manifest.split(separator: "\n") {
                let fields = line.split(separator: "\t", maxSplits: 2).map(String.init)
                guard fields.count == 3, !fields[2].hasPrefix("/"), !fields[2].split(separator: "/").contains("..") else { continue }
                let source = dir + "/files/" + fields[2]
                let target = into + "/" + fields[2]
                do {
                    try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    // Only a regular file of the store is read (never through a link), and the
                    // copy is checked against the manifest as it is written.
                    let (digest, _) = try ArtifactFiles.copy(from: source, to: target, followLinks: false)
                    guard digest == fields[0] else {
                        unlink(target)
                        return "actions/download-artifact: `\(name)/\(fields[2])` does not match its digest: the artifact changed after upload"
                    }
                    count += 1
                } catch {
                    return "actions/download-artifact `\(name)`: \(error)"
                }
            }
        }
        context.outputs = ["download-path": destination]
        say(context, "actions/download-artifact: \(selected.map(\.name).joined(separator: ", ")): \(count) file\(count == 1 ? "" : "s") into \(destination)")
        return nil
    }

    /// upload-artifact's rule (no `" : < > | * ? \ /`, no line breaks), and no `.` or `..`,
    /// which would name the store's own directories.
    /// A path as the artifact actions read it: `~/…` under `$HOME`, absolute as is, else under
    /// the workspace.
    static func absolute(_ path: String, home: String, workspace: String) -> String {
        path.hasPrefix("~/") ? home + path.dropFirst(1) : path.hasPrefix("/") ? path : workspace + "/" + path
    }

    static func isArtifactName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains { $0.isNewline || "\":<>|*?\\/".contains($0) }
    }
}

/// Copies for the artifact store: the bytes of a regular file, SHA-256 computed over what was
/// written, the destination replaced without following a link planted at its path.
enum ArtifactFiles {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Copies `source` (through a link when `followLinks`; a link is refused otherwise) to
    /// `target`; returns the digest and size of the bytes copied.
    static func copy(from source: String, to target: String, followLinks: Bool = true) throws -> (digest: String, size: Int64) {
        // Non-blocking: a FIFO swapped in after the walk must not hang the job (checked below).
        let input = open(source, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followLinks ? 0 : O_NOFOLLOW))
        guard input >= 0 else { throw Failure(description: "\(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        var st = stat()
        guard fstat(input, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw Failure(description: "\(source) is not a regular file") }
        // What is at the destination is replaced only when it is a regular file or a link (the
        // link itself, never its target); a device, a FIFO or a directory is refused, so a
        // download into `/dev` cannot replace `/dev/null`.
        var existing = stat()
        if lstat(target, &existing) == 0 {
            let kind = existing.st_mode & S_IFMT
            guard kind == S_IFREG || kind == S_IFLNK else { throw Failure(description: "\(target) exists and is not a regular file; not replaced") }
            unlink(target)
        }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0o777)
        guard output >= 0 else { throw Failure(description: "\(target): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var hasher = SHA256Stream()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var total: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Failure(description: "\(source): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            var offset = 0
            while offset < n {
                let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + offset, n - offset) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw Failure(description: "\(target): \(String(cString: strerror(errno)))") }
                offset += w
            }
            hasher.update(buffer[0..<n])
            total += Int64(n)
        }
        return (hasher.finalize(), total)
    }
}
