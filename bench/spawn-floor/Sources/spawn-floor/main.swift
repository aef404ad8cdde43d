// usage: spawn-floor N [PARALLEL]  — prints the wall time in seconds.
import Foundation
import Subprocess

let n = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 1000
let parallel = Int(CommandLine.arguments.dropFirst(2).first ?? "") ?? 2
let start = Date()
await withTaskGroup(of: Void.self) { group in
    var started = 0
    func spawnOne() {
        group.addTask {
            var options = PlatformOptions()
            options.processGroupID = 0
            let captured = [options]
            _ = try? await Subprocess.run(
                .path("/bin/sh"), arguments: ["-e", "-c", "true"], platformOptions: captured[0],
                input: .none, output: .sequence, error: .combinedWithOutput
            ) { execution in
                for try await _ in execution.standardOutput {}
            }
        }
        started += 1
    }
    while started < min(parallel, n) { spawnOne() }
    while await group.next() != nil {
        if started < n { spawnOne() }
    }
}
print(String(Date().timeIntervalSince(start)))
