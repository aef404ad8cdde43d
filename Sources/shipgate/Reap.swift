import ArgumentParser
import Foundation
import ShipgateEngine
import ShipgateProcess

extension Shipgate {
    /// The orphan reaper's helper process (`OrphanReaper`); started by `run`, `resume` and
    /// `rollback`, never by hand.
    struct Reap: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "__reap", abstract: "Internal: kills a run's steps if shipgate dies.", shouldDisplay: false)

        func run() throws { OrphanReaper.serve() }
    }
}

/// This executable's path, for starting helpers of itself.
enum SelfExecutable {
    static var path: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? URL(fileURLWithPath: CommandLine.arguments[0]).path
    }
}
