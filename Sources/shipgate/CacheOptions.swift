import ArgumentParser
import Foundation
import ShipgateCache
import ShipgateEngine
import ShipgateGit
import ShipgateHTTP
import ShipgateJobCache

/// Cache flags shared by `run` and `plan`.
struct CacheOptions: ParsableArguments {
    @Flag(help: "Run every job even when the cache has its result (results are still stored).")
    var noCache = false

    @Option(help: "Bazel-style HTTP cache (GET and PUT on /ac/ and /cas/); env SHIPGATE_REMOTE_CACHE.")
    var remoteCache: String?

    @Option(help: ArgumentHelp("Seconds a remote cache request may wait for the server (to connect, or for its next byte).", visibility: .hidden))
    var remoteTimeout: Double = 5

    @Flag(help: ArgumentHelp("Hash every input file instead of taking unmodified files' ids from git's index.", visibility: .hidden))
    var noGitIndex = false

    func validate() throws {
        if let url = remoteURL, RemoteCache.http(url) == nil {
            throw ValidationError("--remote-cache must be an http:// or https:// URL, got `\(url)`")
        }
    }

    var remoteURL: String? {
        remoteCache ?? ProcessInfo.processInfo.environment["SHIPGATE_REMOTE_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The run's cache, or nil (with a warning) when the cache directory cannot be used:
    /// a broken cache never stops a pipeline.
    func context(stateDirectory: String, workspace: String, readOnly: Bool, reporter: (any RunObserver)?) -> CacheContext? {
        let remote = remoteURL.flatMap { RemoteCache.http($0, idleTimeout: .milliseconds(Int64(max(0.05, remoteTimeout) * 1000))) }
        // Tracked, unmodified inputs are identified by git's index without being read.
        let index = noGitIndex ? nil : IndexSnapshot(workspace: workspace)
        var tracked: (@Sendable (String) -> String?)? = nil
        if let index { tracked = { path in index.blobID(path) } }
        // Git-ignored files are not inputs (unless a job says `include-ignored`).
        var ignored: (@Sendable (String, Bool) -> Bool)? = nil
        if let rules = IgnoreRules(workspace: workspace) { ignored = { path, isDirectory in rules.isIgnored(path, isDirectory: isDirectory) } }
        do {
            return try CacheContext(
                stateDirectory: stateDirectory, workspace: workspace, remote: remote, lookups: !noCache, readOnly: readOnly, trackedBlobID: tracked,
                ignored: ignored)
        } catch {
            let message = "cache disabled: \(error)"
            if let reporter {
                reporter.handle(.notice(job: nil, level: .warning, message: message))
            } else {
                FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
            }
            return nil
        }
    }
}
