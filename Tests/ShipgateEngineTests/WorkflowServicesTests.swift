import Foundation
import ShipgateEngine
import XCTest

@testable import ShipgateEngine

/// The parts of services and JavaScript actions that need no server: docker's health flags,
/// `ports:` mappings, the input variables' names, and choosing a `node`.
final class WorkflowServicesTests: XCTestCase {
    func testHealthOptionsAreReadLikeDockersFlags() {
        let a = JobExecutor.healthOptions("--health-cmd pg_isready --health-interval 10s --health-timeout 5s --health-retries 5")
        XCTAssertEqual(a.command, "pg_isready")
        XCTAssertEqual(a.interval, 10)
        XCTAssertEqual(a.retries, 5)
        let b = JobExecutor.healthOptions(#"--health-cmd "redis-cli ping" --health-interval=500ms"#)
        XCTAssertEqual(b.command, "redis-cli ping")
        XCTAssertEqual(b.interval, 0.5, accuracy: 0.001)
        XCTAssertEqual(b.retries, 10, "default")
        let c = JobExecutor.healthOptions("--health-cmd 'mysqladmin ping -h localhost' --health-interval 2m")
        XCTAssertEqual(c.command, "mysqladmin ping -h localhost")
        XCTAssertEqual(c.interval, 10, "at most 10 s between tries")
        XCTAssertNil(JobExecutor.healthOptions(nil).command)
        XCTAssertNil(JobExecutor.healthOptions("--name x").command)
    }

    func testPortsMapTheImagesPort() {
        XCTAssertEqual(JobExecutor.hostPort(["5432:5432"], containerPort: 5432), 5432)
        XCTAssertEqual(JobExecutor.hostPort(["15432:5432/tcp"], containerPort: 5432), 15432)
        XCTAssertEqual(JobExecutor.hostPort(["127.0.0.1:6380:6379"], containerPort: 6379), 6380)
        XCTAssertNil(JobExecutor.hostPort(["5432"], containerPort: 5432), "no host port: a free one")
        XCTAssertNil(JobExecutor.hostPort(["8080:80"], containerPort: 5432))
        XCTAssertNil(JobExecutor.hostPort([], containerPort: 5432))
        XCTAssertNil(JobExecutor.hostPort(["70000:5432"], containerPort: 5432), "not a port: a free one instead of a crash")
        if let free = JobExecutor.freePort() { XCTAssertTrue(JobExecutor.isFree(free)) } else { XCTFail("no free port") }
    }

    func testInputVariablesAreNamedAsTheRunnerNamesThem() {
        XCTAssertEqual(JobExecutor.inputVariable("python-version"), "INPUT_PYTHON-VERSION")
        XCTAssertEqual(JobExecutor.inputVariable("my input"), "INPUT_MY_INPUT")
    }

    func testNodeIsChosenByMajorAndMissingNodeSaysWhatToInstall() throws {
        let home = NSTemporaryDirectory() + "node-choice-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: home) }
        // A tool cache with Node 20 and 22 (fake binaries: only their places and names are read).
        for version in ["20.11.1", "22.3.0"] {
            let bin = "\(home)/toolcache/node/\(version)/x64/bin"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: bin + "/node", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        }
        let env = ["HOME": home, "PATH": "/nonexistent", "RUNNER_TOOL_CACHE": home + "/toolcache"]
        let chosen = NodeRuntimes.choose(for: [20, 24], environment: env, shims: home + "/shims")
        XCTAssertEqual(chosen[20]?.version, "20.11.1")
        XCTAssertNil(chosen[20]?.warning)
        XCTAssertEqual(chosen[24]?.version, "22.3.0", "older than asked: the newest here")
        XCTAssertTrue(chosen[24]?.warning?.contains("asks for Node.js 24") ?? false)
        let none = NodeRuntimes.choose(for: [20], environment: ["HOME": home + "/empty", "PATH": "/nonexistent"], shims: home + "/shims")
        XCTAssertNil(none[20]?.path)
        XCTAssertTrue(none[20]?.problem?.contains("no Node.js 20 is installed; install it") ?? false, none[20]?.problem ?? "")
    }

    func testTheTamperCheckSeesFilesAddedChangedAndLinksRepointed() throws {
        let dir = NSTemporaryDirectory() + "action-files-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/dist", withIntermediateDirectories: true)
        try "a".write(toFile: dir + "/dist/index.js", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/lib", withDestinationPath: "dist")
        let before = ActionFiles.digests(dir)
        XCTAssertEqual(Set(before.keys), ["dist/index.js", "lib"])
        XCTAssertEqual(before["lib"], "-> dist")
        try FileManager.default.removeItem(atPath: dir + "/lib")
        try FileManager.default.createSymbolicLink(atPath: dir + "/lib", withDestinationPath: "/tmp")
        XCTAssertNotEqual(ActionFiles.digests(dir), before, "a re-pointed link")
        try FileManager.default.removeItem(atPath: dir + "/lib")
        try FileManager.default.createSymbolicLink(atPath: dir + "/lib", withDestinationPath: "dist")
        XCTAssertEqual(ActionFiles.digests(dir), before)
        try "x".write(toFile: dir + "/.hidden", atomically: true, encoding: .utf8)
        XCTAssertNotEqual(ActionFiles.digests(dir), before, "an added hidden file")
    }
}
