import Foundation
import ShipgateModel

/// Finds an installed interpreter for `toolchain: { python: "3.12", node: "20", go: "1.22" }`
/// and says where its binaries are, so a job puts it first on `PATH`.
///
/// Contract: `version` matches an installed version when it is a prefix of it by whole
/// components (`3.12` matches `3.12.4`, not `3.1`); the newest match wins. Places searched, in
/// order (the first place with a match wins):
/// 1. the tool cache of GitHub runners and `setup-*` actions: `$SHIPGATE_TOOLCACHE`, else
///    `$RUNNER_TOOL_CACHE`, else `/opt/hostedtoolcache`: `Python/3.12.4/x64/bin`,
///    `node/20.11.0/x64/bin`, `go/1.22.1/x64/bin`;
/// 2. version managers under `$HOME`: uv (`~/.local/share/uv/python/cpython-3.12.4-…/bin`),
///    pyenv (`~/.pyenv/versions/3.12.4/bin`), nvm (`~/.nvm/versions/node/v20.11.0/bin`),
///    Go's `~/sdk/go1.22.1/bin`;
/// 3. the system: `python3.12` on `PATH` (its directory is not prepended: a shim directory
///    with `python`, `python3` and `python3.12` pointing at it is), `node` / `go` on `PATH`
///    when their `--version` matches.
/// Pure except for reading directories and, for system binaries, running `--version`.
public struct ToolchainResolver: Sendable {
    public struct Resolved: Sendable, Equatable {
        public var tool: String
        /// The full version found (`3.12.4`).
        public var version: String
        /// Directories to put first on `PATH`, in order.
        public var path: [String]
        /// Where it was found, for the log (`tool cache`, `uv`, `system`).
        public var source: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public var environment: [String: String]
    /// Where shim directories for system interpreters go (the run directory).
    public var shimDirectory: String

    public init(environment: [String: String], shimDirectory: String) {
        self.environment = environment
        self.shimDirectory = shimDirectory
    }

    public static let tools = ["python", "node", "go"]

    /// Every installation of `tool` the resolver knows, in the order of its places (each
    /// asked once).
    public func installed(_ tool: String) throws -> [Resolved] {
        try places(tool, wanted: "").flatMap { place in place().map { Resolved(tool: tool, version: $0.version, path: $0.path, source: $0.source) } }
    }

    private typealias Candidates = () -> [(source: String, version: String, path: [String])]

    /// Places in order; a later place is looked at only when the earlier ones have no match
    /// (system interpreters are asked their version, which costs a process each).
    private func places(_ tool: String, wanted: String) throws -> [Candidates] {
        let places: [Candidates]
        switch tool {
        case "python":
            places = [{ toolCache("Python") }, { uvPythons() }, { versionDirectories(home("/.pyenv/versions"), source: "pyenv") }, { systemPython(wanted) }]
        case "node":
            places = [{ toolCache("node") }, { versionDirectories(home("/.nvm/versions/node"), source: "nvm", strip: "v") }, { system("node", ["--version"]) }]
        case "go": places = [{ toolCache("go") }, { versionDirectories(home("/sdk"), source: "~/sdk", strip: "go") }, { system("go", ["version"]) }]
        default: throw Failure(description: "unknown toolchain `\(tool)` (known: \(Self.tools.joined(separator: ", ")))")
        }
        return places
    }

    public func resolve(_ tool: String, version wanted: String) throws -> Resolved {
        let places = try places(tool, wanted: wanted)
        var candidates: [(source: String, version: String, path: [String])] = []
        for place in places {
            let found = place()
            candidates += found
            // The first place with a match wins; in it, the newest version.
            for source in Set(found.map(\.source)).sorted(by: { a, b in order(of: a, in: found) < order(of: b, in: found) }) {
                let matches = found.filter { $0.source == source && Self.matches($0.version, wanted) }
                if let best = matches.max(by: { Self.less($0.version, $1.version) }) {
                    return Resolved(tool: tool, version: best.version, path: best.path, source: source)
                }
            }
        }
        let found = Set(candidates.map(\.version)).sorted(by: Self.less)
        throw Failure(
            description: "no \(tool) \(wanted) is installed"
                + (found.isEmpty ? "" : " (found: \(found.joined(separator: ", ")))") + "; " + Self.installHint(tool, wanted))
    }

    /// How to install `tool` `version` so the resolver finds it.
    static func installHint(_ tool: String, _ version: String) -> String {
        switch tool {
        case "python": "install it with `uv python install \(version)` (or `pyenv install \(version)`, or the system's python\(version) package)"
        case "node": "install it with `nvm install \(version)` (or unpack it into $RUNNER_TOOL_CACHE/node/\(version).x/x64)"
        default: "install Go \(version) into ~/sdk/go\(version) (`go install golang.org/dl/go\(version)@latest`) or $RUNNER_TOOL_CACHE/go/\(version).x/x64"
        }
    }

    /// `3.12` matches `3.12` and `3.12.4`, not `3.1` or `3.120`.
    static func matches(_ version: String, _ wanted: String) -> Bool {
        let have = version.split(separator: ".")
        let want = wanted.split(separator: ".")
        return !want.isEmpty && want.count <= have.count && zip(have, want).allSatisfy { $0 == $1 }
    }

    /// Numeric comparison by component (`3.9` < `3.12`).
    static func less(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        let y = b.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        return x.lexicographicallyPrecedes(y)
    }

    private func order(of source: String, in candidates: [(source: String, version: String, path: [String])]) -> Int {
        candidates.firstIndex { $0.source == source } ?? Int.max
    }

    private func home(_ suffix: String) -> String { (environment["HOME"] ?? NSHomeDirectory()) + suffix }

    private func list(_ directory: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() }

    private func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }

    /// `TOOLCACHE/NAME/VERSION/x64/bin` (node's tool cache has `bin` under x64 too).
    private func toolCache(_ name: String) -> [(source: String, version: String, path: [String])] {
        let root = environment["SHIPGATE_TOOLCACHE"] ?? environment["RUNNER_TOOL_CACHE"] ?? "/opt/hostedtoolcache"
        return list(root + "/" + name).compactMap { version in
            let bin = "\(root)/\(name)/\(version)/x64/bin"
            return isDirectory(bin) ? ("tool cache", version, [bin]) : nil
        }
    }

    /// `~/.local/share/uv/python/cpython-3.12.4-linux-x86_64-gnu/bin`.
    private func uvPythons() -> [(source: String, version: String, path: [String])] {
        let root = environment["UV_PYTHON_INSTALL_DIR"] ?? home("/.local/share/uv/python")
        return list(root).compactMap { name in
            guard name.hasPrefix("cpython-"), let version = name.dropFirst("cpython-".count).split(separator: "-").first else { return nil }
            let bin = "\(root)/\(name)/bin"
            return isDirectory(bin) ? ("uv", String(version), [bin]) : nil
        }
    }

    /// `ROOT/[strip]VERSION/bin`.
    private func versionDirectories(_ root: String, source: String, strip: String = "") -> [(source: String, version: String, path: [String])] {
        list(root).compactMap { name in
            guard name.hasPrefix(strip), let first = name.dropFirst(strip.count).first, first.isNumber else { return nil }
            let bin = "\(root)/\(name)/bin"
            return isDirectory(bin) ? (source, String(name.dropFirst(strip.count)), [bin]) : nil
        }
    }

    private var searchPath: [String] { (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init) }

    /// `python3.X` on PATH, through a shim directory so `python` and `python3` are that one.
    private func systemPython(_ wanted: String) -> [(source: String, version: String, path: [String])] {
        var found: [(source: String, version: String, path: [String])] = []
        var seen = Set<String>()
        for dir in searchPath {
            for name in list(dir) where name.hasPrefix("python3.") {
                let minor = String(name.dropFirst("python".count))
                guard minor.split(separator: ".").count == 2, minor.allSatisfy({ $0.isNumber || $0 == "." }), seen.insert(minor).inserted,
                    FileManager.default.isExecutableFile(atPath: dir + "/" + name)
                else { continue }
                // Only an interpreter that can match is asked its full version (each ask is a process).
                guard Self.matches(minor, wanted) || Self.matches(wanted, minor) else {
                    found.append(("system", minor, []))
                    continue
                }
                let version = Self.reportedVersion(dir + "/" + name, ["--version"]) ?? minor
                guard Self.matches(version, wanted) else {
                    found.append(("system", version, []))
                    continue
                }
                let shim = "\(shimDirectory)/python-\(minor)/bin"
                try? FileManager.default.createDirectory(atPath: shim, withIntermediateDirectories: true)
                for link in ["python", "python3", name] {
                    try? FileManager.default.removeItem(atPath: shim + "/" + link)
                    try? FileManager.default.createSymbolicLink(atPath: shim + "/" + link, withDestinationPath: dir + "/" + name)
                }
                found.append(("system", version, [shim]))
            }
        }
        return found
    }

    /// `node` / `go` on PATH, when their reported version is known.
    private func system(_ name: String, _ arguments: [String]) -> [(source: String, version: String, path: [String])] {
        for dir in searchPath where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
            guard let version = Self.reportedVersion(dir + "/" + name, arguments) else { return [] }
            return [("system", version, [])]
        }
        return []
    }

    /// The first `N.N[.N]` in what `binary arguments` prints (`Python 3.11.2`, `v20.11.0`, `go1.22.1`).
    static func reportedVersion(_ binary: String, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard let range = text.range(of: #"[0-9]+\.[0-9]+(\.[0-9]+)?"#, options: .regularExpression) else { return nil }
        return String(text[range])
    }
}
