import ArgumentParser
import Foundation
import ShipgateConsole
import ShipgateReport

extension Shipgate {
    struct User: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "user",
            abstract: "Manage release-console users (bcrypt passwords) and their API tokens.",
            subcommands: [Add.self, Remove.self, List.self, Token.self, Revoke.self])

        struct UsersFile: ParsableArguments {
            @Option(help: "Users file (default: STATE_DIR/console/users.json).", completion: .file())
            var users: String?

            @Option(help: "State directory (default: .shipgate at the repository root; env SHIPGATE_STATE_DIR).", completion: .directory)
            var stateDir: String?

            var store: UserStore {
                UserStore(
                    path: users
                        ?? Workspace(pipelineFile: FileManager.default.currentDirectoryPath + "/shipgate.yml", stateDirectory: stateDir).stateDirectory
                        + "/console/users.json")
            }
        }

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "add",
                abstract: "Add a user (or set their password), bound to an approver name of the keyring.",
                discussion: "The password is read from standard input with --password-stdin, else asked for twice on the terminal.")

            @Argument(help: "Login name.")
            var name: String

            @Option(help: "The keyring name whose approvals this user gives (default: NAME).")
            var approver: String?

            @Flag(help: "Read the password from the first line of standard input.")
            var passwordStdin = false

            @OptionGroup var file: UsersFile

            func validate() throws {
                guard let first = name.first, first.isLetter, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                    throw ValidationError("user name `\(name)` must start with a letter and use letters, digits, `-`, `_`, `.`")
                }
            }

            func run() throws {
                let password: String
                if passwordStdin {
                    password = readLine(strippingNewline: true) ?? ""
                } else {
                    guard isatty(0) == 1 else { throw fail("no terminal to ask for the password", hint: "pass --password-stdin and pipe it in") }
                    let first = String(cString: getpass("password for \(name): "))
                    let again = String(cString: getpass("again: "))
                    guard first == again else { throw fail("the passwords differ") }
                    password = first
                }
                guard password.count >= 8 else { throw fail("the password must have at least 8 characters") }
                let store = file.store
                do { try store.add(name: name, approver: approver ?? name, password: password) } catch { throw fail("\(error)") }
                print("user \(name) (approver \(approver ?? name)) saved in \(store.path)")
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "remove", abstract: "Remove a user and their tokens; their sessions end at their next request.")

            @Argument(help: "Login name.")
            var name: String

            @OptionGroup var file: UsersFile

            func run() throws {
                let store = file.store
                let found: Bool
                do { found = try store.remove(name: name) } catch { throw fail("\(error)") }
                guard found else { throw fail("no user \(name) in \(store.path)") }
                print("user \(name) removed from \(store.path)")
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List users, their approver names and token ids.")

            @OptionGroup var file: UsersFile

            func run() throws {
                let store = file.store
                let users: [ConsoleUser]
                do { users = try store.users() } catch { throw fail("\(error)") }
                if users.isEmpty { print("no users in \(store.path); add one with `shipgate user add NAME`") }
                for u in users {
                    print(
                        "\(u.name)  approver \(u.approver)  tokens: \(u.tokens.isEmpty ? "none" : u.tokens.map { "\($0.id) (\($0.created))" }.joined(separator: ", "))"
                    )
                }
            }
        }

        struct Token: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "token",
                abstract: "Create an API token for a user and print it (only now: it is stored hashed).",
                discussion: "Use it as SHIPGATE_TOKEN for `shipgate approve --server URL`, or as `Authorization: Bearer TOKEN`.")

            @Argument(help: "Login name.")
            var name: String

            @OptionGroup var file: UsersFile

            func run() throws {
                let token: String
                do { token = try file.store.newToken(for: name) } catch { throw fail("\(error)") }
                FileDescriptorSink.standardError.write(Terminal.stderrStyle.dim("API token for \(name) (shown once; store it as a secret):") + "\n")
                print(token)
            }
        }

        struct Revoke: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke one API token of a user (by id), or all of them.")

            @Argument(help: "Login name.")
            var name: String

            @Option(help: "The token id (from `shipgate user list`); default: every token of the user.")
            var id: String?

            @OptionGroup var file: UsersFile

            func run() throws {
                let n: Int
                do { n = try file.store.revokeTokens(of: name, id: id) } catch { throw fail("\(error)") }
                print("revoked \(n) token\(n == 1 ? "" : "s") of \(name)")
            }
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write a run's page (timeline, jobs, gates, logs) as one self-contained HTML file.")

        @Argument(help: "The run id (or a unique prefix, or `last`).")
        var id: String

        @Option(help: "The HTML file to write.", completion: .file(extensions: ["html"]))
        var html: String

        @OptionGroup var state: StateOptions

        func run() async throws {
            let store = try await state.open()
            let row = try await state.run(id, in: store)
            let console = Console(
                store: store,
                settings: .init(
                    workspace: state.workspace.root, pipelinePath: "shipgate.yml",
                    stateDirectory: StateLocation.url(state.stateURL) == nil ? state.workspace.stateDirectory : nil, trustRef: nil,
                    keyringPath: "pipelines/approvers.yml"),
                users: UserStore(path: "/dev/null"), signer: nil)
            guard let page = try await console.runReport(runID: row.id) else { throw fail("no run \(row.id)") }
            do { try page.write(toFile: html, atomically: true, encoding: .utf8) } catch {
                throw fail("cannot write \(html): \(error.localizedDescription)")
            }
            print("wrote \(html) (run \(row.id), \(page.utf8.count / 1024) KiB)")
        }
    }
}
