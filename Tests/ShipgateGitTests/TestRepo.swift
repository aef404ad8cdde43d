import Foundation

/// A temporary directory for a git repository, and a way to run the git CLI in it (tests only:
/// shipgate reads repositories through libgit2). Uses posix_spawn and waitpid directly.
final class TestRepo {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-git-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs a shell command in the repository; returns its trimmed stdout.
    @discardableResult
    func sh(_ command: String) throws -> String {
        let out = dir + ".out-\(UUID().uuidString)"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup("cd '\(dir)' && { \(command); } > '\(out)'"), nil]
        defer { argv.forEach { free($0) } }
        var env = ProcessInfo.processInfo.environment
        env["GIT_AUTHOR_NAME"] = "Ada Lovelace"
        env["GIT_AUTHOR_EMAIL"] = "ada@example.com"
        env["GIT_COMMITTER_NAME"] = "Ada Lovelace"
        env["GIT_COMMITTER_EMAIL"] = "ada@example.com"
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, envp) == 0 else { throw CocoaError(.executableLoad) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        unlink(out)
        guard status == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "`\(command)` failed"]) }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

}
