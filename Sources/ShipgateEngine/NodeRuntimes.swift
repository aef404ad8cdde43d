import Foundation

/// The Node.js that JavaScript actions run with.
public enum NodeRuntimes {
    /// The `node` for each major version asked: that major (tool cache, nvm, the system's),
    /// else a newer one, else an older one from 20 up, with a warning (GitHub's runner bundles
    /// the exact major; most actions run on the next older one unchanged).
    public static func choose(for majors: Set<Int>, environment: [String: String], shims: String) -> [Int: WorkflowRuntime.NodeChoice] {
        let resolver = ToolchainResolver(environment: environment, shimDirectory: shims)
        var out: [Int: WorkflowRuntime.NodeChoice] = [:]
        for major in majors {
            var found: (ToolchainResolver.Resolved, Int)?
            let all = (try? resolver.installed("node")) ?? []
            func majorOf(_ r: ToolchainResolver.Resolved) -> Int { Int(r.version.split(separator: ".").first ?? "") ?? 0 }
            // The asked major first, then newer ones (nearest first), then older ones down to 20.
            let order = [major] + Array(major + 1...major + 10) + Array((20..<major).reversed())
            for candidate in order {
                if let r = all.filter({ majorOf($0) == candidate }).max(by: { ToolchainResolver.less($0.version, $1.version) }) {
                    found = (r, candidate)
                    break
                }
            }
            guard let (resolved, version) = found,
                let binary = (resolved.path + (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)).map({ $0 + "/node" }).first(
                    where: {
                        FileManager.default.isExecutableFile(atPath: $0)
                    })
            else {
                out[major] = WorkflowRuntime.NodeChoice(
                    path: nil, version: "",
                    problem: "no Node.js \(major) is installed; install it (`apt install nodejs`, nvm, or https://nodejs.org) and put it on PATH")
                continue
            }
            let warning =
                version < major
                ? "the action asks for Node.js \(major); it runs with \(resolved.version) (\(resolved.source)), the newest here: install Node.js \(major) if it fails"
                : nil
            out[major] = WorkflowRuntime.NodeChoice(path: binary, version: resolved.version, warning: warning)
        }
        return out
    }
}
