// swift-tools-version: 6.0
// The spawn floor: what swift-subprocess alone costs to run N `/bin/sh -e -c true` two at a
// time, the way shipgate spawns steps (own process group, output streamed). shipgate cannot
// be faster than this; bench/run.sh compares the two.
import PackageDescription

let package = Package(
    name: "spawn-floor",
    platforms: [.macOS(.v14)],
    dependencies: [.package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2")],
    targets: [.executableTarget(name: "spawn-floor", dependencies: [.product(name: "Subprocess", package: "swift-subprocess")])]
)
