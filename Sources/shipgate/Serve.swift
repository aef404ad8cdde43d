import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ShipgateConsole
import ShipgateEngine
import ShipgateGate
import ShipgateProcess
import ShipgateReport
import ShipgateState
import Synchronization

extension Shipgate {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve the release console: environments, pending approvals, history and rollback, runs, audit, /api and /metrics.",
            discussion: """
                Users come from the users file (`shipgate user add`). Approvals given in the console are signed with --key on the \
                user's behalf; the gate counts them only if that key is under `consoles:` in the trusted keyring. Listens on \
                127.0.0.1 unless --host says otherwise; put it behind a TLS proxy (and pass --secure-cookies) to expose it.
                """)

        @Option(help: "Address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "Port to listen on (0: any free port, printed at start).")
        var port = 8080

        @Option(help: "The console's private key (`shipgate keygen NAME`), used to sign approvals for logged-in users.", completion: .file())
        var key: String?

        @Option(help: "The console's name in the keyring's `consoles:` (default: the key's name).")
        var consoleName: String?

        @Option(help: "Users file (default: STATE_DIR/console/users.json).", completion: .file())
        var users: String?

        @Option(help: "Pipeline whose environments the console shows (default: shipgate.yml, shipgate.yaml, else pipelines/ci.yml).", completion: .file())
        var pipeline: String?

        @Flag(help: "Mark cookies Secure (set when users reach the console over HTTPS).")
        var secureCookies = false

        @OptionGroup var policyOptions: PolicyOptions

        @OptionGroup var state: StateOptions

        func run() async throws {
            let style = Terminal.stderrStyle
            let file = pipeline ?? PipelineOptions.defaultFiles.first { FileManager.default.fileExists(atPath: $0) } ?? "shipgate.yml"
            let home = Workspace(pipelineFile: file, stateDirectory: state.stateDir)
            let store = try await state.open(mustExist: false)
            var signer: ConsoleSigner?
            if let key {
                do {
                    let k = try ApproverKey.read(path: key)
                    signer = ConsoleSigner(key: k, name: consoleName ?? k.name)
                } catch { throw fail("\(error)") }
            }
            let usersPath = users ?? home.stateDirectory + "/console/users.json"
            var settings = Console.Settings(
                workspace: home.root, pipelinePath: URL(fileURLWithPath: file).standardizedFileURL.path,
                stateDirectory: StateLocation.url(state.stateURL) == nil ? home.stateDirectory : nil, trustRef: policyOptions.resolvedTrustRef,
                keyringPath: policyOptions.keyringPath,
                remoteCache: LaunchEnvironment.values["SHIPGATE_REMOTE_CACHE"].flatMap { $0.isEmpty ? nil : $0 }, secureCookies: secureCookies)
            settings.launchEnvironment = LaunchEnvironment.values
            let console = Console(store: store, settings: settings, users: UserStore(path: usersPath), signer: signer)

            // Say up front what will not work.
            if (try? console.users.users())?.isEmpty ?? true {
                FileDescriptorSink.standardError.write(
                    style.yellow("warning: no users in \(usersPath): nobody can log in; add one with `shipgate user add NAME`") + "\n")
            }
            if let signer {
                let trusted = console.policy()?.keyring.consoles[signer.name]
                if trusted != signer.key.privateKey.publicKey.rawRepresentation {
                    FileDescriptorSink.standardError.write(
                        style.yellow(
                            "warning: console key `\(signer.name)` is not under `consoles:` in the trusted keyring: approvals given here will not count.\n  add `consoles: {\(signer.name): \"\(signer.key.publicKeyText)\"}` to the keyring and merge it"
                        ) + "\n")
                }
            } else {
                FileDescriptorSink.standardError.write(style.yellow("warning: no --key: the console shows deploys but cannot approve them") + "\n")
            }

            Task { await console.warmUp() }
            let app = Application(
                router: ConsoleServer.router(console),
                configuration: .init(address: .hostname(host, port: port), serverName: "shipgate"),
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port ?? port
                    FileDescriptorSink.standardOutput.write("shipgate console on http://\(host):\(bound)  (state: \(store.location))\n")
                },
                logger: .init(label: "shipgate.console", factory: { _ in SwiftLogNoOpLogHandler() }))
            // SIGTERM or Ctrl-C: the server stops gracefully, but a request still waiting for a
            // database that is gone keeps it alive for 4 s at most.
            let deadline = ShutdownDeadline(after: 4)
            try await app.runService()
            deadline.disarm()
            await console.rollbacksWait()
        }
    }
}

/// Exits the process a fixed time after the first SIGTERM or SIGINT, whatever is still running.
final class ShutdownDeadline: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let armed = Mutex(true)

    init(after seconds: Int) {
        for sig in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) {
                    // Disarmed: the server stopped in time; what runs after it (rollbacks) is waited for.
                    guard self.armed.withLock({ $0 }) else { return }
                    FileDescriptorSink.standardError.write("shipgate serve: stopped after \(seconds)s with requests still waiting\n")
                    exit(0)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    func disarm() {
        armed.withLock { $0 = false }
        for source in sources { source.cancel() }
        sources = []
    }
}
