import ShipgateExpressions
import ShipgateModel
import ShipgatePlanning
import XCTest

/// What the planner decides for workflow jobs before the run: triggers and runners.
final class WorkflowPlanningTests: XCTestCase {
    private func settings(event: String = "push", branch: String? = "main", tags: [String] = [], changed: [String]? = nil) -> WorkflowSettings {
        WorkflowSettings(
            event: event,
            rules: RuleInputs(branch: branch, tags: tags, gitUnavailable: nil, changedPaths: changed, base: "origin/main", changesUnavailable: nil))
    }

    private func trigger(_ event: String, _ configure: (inout WorkflowTrigger) -> Void = { _ in }) -> WorkflowTrigger {
        var t = WorkflowTrigger(event: event, location: SourceLocation(file: "w.yml", line: 2, column: 3))
        configure(&t)
        return t
    }

    func testEventsAndBranchTagFilters() {
        XCTAssertNil(TriggerFilter.skip([trigger("push")], settings: settings()))
        XCTAssertEqual(
            TriggerFilter.skip([trigger("pull_request")], settings: settings()),
            "not triggered: the workflow runs on pull_request, not on `push` (pick one with --event, or --ignore-triggers)")
        XCTAssertNil(TriggerFilter.skip([trigger("pull_request")], settings: settings(event: "pull_request")))
        let branches = trigger("push") { $0.branches = ["main", "release/**"] }
        XCTAssertNil(TriggerFilter.skip([branches], settings: settings()))
        XCTAssertNil(TriggerFilter.skip([branches], settings: settings(branch: "release/1.2/x")))
        XCTAssertNotNil(TriggerFilter.skip([branches], settings: settings(branch: "feature")))
        XCTAssertNotNil(TriggerFilter.skip([branches], settings: settings(branch: "main-2")), "a literal pattern is an exact name")
        let negated = trigger("push") { $0.branches = ["releases/**", "!releases/**-alpha"] }
        XCTAssertNil(TriggerFilter.skip([negated], settings: settings(branch: "releases/10")))
        XCTAssertNotNil(TriggerFilter.skip([negated], settings: settings(branch: "releases/10-alpha")))
        let ignore = trigger("push") { $0.branchesIgnore = ["docs/*"] }
        XCTAssertNotNil(TriggerFilter.skip([ignore], settings: settings(branch: "docs/x")))
        // Tag pushes: only tag filters apply; branch-only filters do not trigger on tags.
        XCTAssertNotNil(TriggerFilter.skip([branches], settings: settings(tags: ["v1.0"])))
        let tags = trigger("push") { $0.tags = ["v*"] }
        XCTAssertNil(TriggerFilter.skip([tags], settings: settings(tags: ["v1.0"])))
        XCTAssertNotNil(TriggerFilter.skip([tags], settings: settings()), "tag-only filters do not trigger on a branch push")
        // A pull request's branch filters look at its base.
        let pr = trigger("pull_request") { $0.branches = ["main"] }
        XCTAssertNil(TriggerFilter.skip([pr], settings: settings(event: "pull_request", branch: "feature")))
        var ignoring = settings(event: "schedule")
        ignoring.ignoreTriggers = true
        XCTAssertNil(TriggerFilter.skip([trigger("push")], settings: ignoring))
    }

    func testPathFilters() {
        let paths = trigger("push") { $0.paths = ["src/**", "!src/**/*.md"] }
        XCTAssertNil(TriggerFilter.skip([paths], settings: settings(changed: ["src/a.py"])))
        XCTAssertNotNil(TriggerFilter.skip([paths], settings: settings(changed: ["docs/a.md"])))
        XCTAssertNil(TriggerFilter.skip([paths], settings: settings(changed: nil)), "unknown changes: the workflow runs")
        let ignored = trigger("push") { $0.pathsIgnore = ["docs/**"] }
        XCTAssertNotNil(TriggerFilter.skip([ignored], settings: settings(changed: ["docs/x.md"])))
        XCTAssertNil(TriggerFilter.skip([ignored], settings: settings(changed: ["docs/x.md", "app.py"])))
    }

    func testRunnerLabels() {
        let linux = WorkflowSettings(hostOS: "Linux", hostArch: "X64")
        for label in [["ubuntu-latest"], ["ubuntu-22.04"], ["self-hosted", "linux", "x64"], ["Linux"]] {
            XCTAssertNil(RunnerMatch.refusal(labels: label, settings: linux), "\(label)")
        }
        XCTAssertTrue(RunnerMatch.refusal(labels: ["windows-2022"], settings: linux)?.contains("asks for Windows") ?? false)
        XCTAssertTrue(RunnerMatch.refusal(labels: ["macos-14"], settings: linux)?.contains("asks for macOS") ?? false)
        XCTAssertTrue(RunnerMatch.refusal(labels: ["ubuntu-24.04-arm"], settings: linux)?.contains("asks for ARM64") ?? false)
        XCTAssertTrue(RunnerMatch.refusal(labels: ["self-hosted", "gpu"], settings: linux)?.contains("--runner gpu=host") ?? false)
        var mapped = linux
        mapped.runnerLabels = ["gpu", "windows-latest"]
        XCTAssertNil(RunnerMatch.refusal(labels: ["self-hosted", "gpu"], settings: mapped))
        XCTAssertNil(RunnerMatch.refusal(labels: ["windows-latest"], settings: mapped))
        XCTAssertNotNil(RunnerMatch.refusal(labels: [], settings: linux))
    }

    func testServicesAndPinsDecidedBeforeTheRun() throws {
        var github = GitHubJob()
        github.runsOn = ["ubuntu-latest"]
        github.services = [
            WorkflowService(
                id: "db", image: "${{ matrix.image }}", env: [], ports: [], options: nil, location: SourceLocation(file: "w.yml", line: 9, column: 7))
        ]
        var job = JobDefinition(id: "t", location: SourceLocation(file: "w.yml", line: 3, column: 3), needs: [], matrix: nil, steps: [])
        job.github = github
        let ok = Planner.refusal(job, variant: [MatrixValue(axis: "image", value: "postgres:16")], index: 0, settings: WorkflowSettings())
        XCTAssertNil(ok)
        let refused = Planner.refusal(job, variant: [MatrixValue(axis: "image", value: "mongo:7")], index: 0, settings: WorkflowSettings())
        XCTAssertTrue(refused?.hasPrefix("w.yml:9:7: service `db` uses the image `mongo:7`, which has no local equivalent") ?? false, refused ?? "")
    }
}
