import ShipgateLoading
import ShipgateModel
import ShipgatePlanning
import XCTest

/// `after:` (ordering only) against `needs` and stage order: edges, waves, cycles, selection.
final class OrderingTests: XCTestCase {
    private func plan(_ yaml: String, jobs: [String] = []) throws -> ExecutionPlan {
        let result = PipelineLoader.load(text: yaml, file: "p.yml")
        let pipeline = try XCTUnwrap(result.pipeline, result.diagnostics.map(\.description).joined(separator: "\n"))
        let (plan, diagnostics) = Planner.plan(pipeline, options: .init(selectedJobs: jobs))
        return try XCTUnwrap(plan, diagnostics.map(\.description).joined(separator: "\n"))
    }

    /// `line:col: message (hint)` of every loader and graph diagnostic.
    private func problems(_ yaml: String) -> [String] {
        let result = PipelineLoader.load(text: yaml, file: "p.yml")
        var diagnostics = result.diagnostics
        if let partial = result.partial { diagnostics += Planner.plan(partial).1 }
        return diagnostics.sortedByLocation().map { d in
            "\(d.location.map { "\($0.line):\($0.column)" } ?? "-"): \(d.message)\(d.hint.map { " (\($0))" } ?? "")"
        }
    }

    func testAfterOrdersWithoutNeeding() throws {
        let p = try plan(
            """
            name: o
            jobs:
              lint: {steps: [{run: x}]}
              unit: {matrix: {py: ["3.11", "3.12"]}, steps: [{run: x}]}
              build: {after: [lint, unit], steps: [{run: x}]}
              pkg: {needs: [build], after: build, steps: [{run: x}]}
            """)
        let build = try XCTUnwrap(p.job("build"))
        XCTAssertEqual(build.needs, [])
        XCTAssertEqual(build.after, ["lint", "unit (py=3.11)", "unit (py=3.12)"], "a matrix job's variants")
        XCTAssertFalse(build.needsFromStages)
        XCTAssertEqual(p.job("pkg")?.needs, ["build"])
        XCTAssertEqual(p.job("pkg")?.after, [], "a job in `needs` is not also an `after` edge")
        XCTAssertEqual(p.waves, [["lint", "unit (py=3.11)", "unit (py=3.12)"], ["build"], ["pkg"]])
    }

    func testStageOrderGatesButIsMarkedAsStageImplied() throws {
        let p = try plan(
            """
            name: s
            stages: [test, build]
            jobs:
              unit: {stage: test, steps: [{run: x}]}
              wheel: {stage: build, steps: [{run: x}]}
              docs: {stage: build, needs: [unit], steps: [{run: x}]}
              first: {steps: [{run: x}]}
            """)
        XCTAssertEqual(p.job("wheel")?.needs, ["unit"])
        XCTAssertEqual(p.job("wheel")?.needsFromStages, true)
        XCTAssertEqual(p.job("docs")?.needsFromStages, false, "explicit needs couple keys")
        XCTAssertEqual(p.job("unit")?.needsFromStages, false, "nothing to wait for")
        XCTAssertEqual(p.job("first")?.needsFromStages, false)
    }

    func testSelectingAJobDoesNotPullInWhatItRunsAfter() throws {
        let yaml = """
            name: sel
            jobs:
              lint: {steps: [{run: x}]}
              build: {after: [lint], steps: [{run: x}]}
            """
        let p = try plan(yaml, jobs: ["build"])
        XCTAssertEqual(p.runnable.map(\.id), ["build"])
        XCTAssertEqual(p.waves, [["build"]])
        XCTAssertEqual(try plan(yaml, jobs: ["build", "lint"]).waves, [["lint"], ["build"]])
    }

    func testRuleSkipsDoNotFollowAfter() throws {
        let yaml = """
            name: r
            jobs:
              release: {when: {branches: [main]}, steps: [{run: x}]}
              notify: {after: [release], steps: [{run: x}]}
            """
        let inputs = RuleInputs(branch: "topic", tags: [], gitUnavailable: nil, changedPaths: nil, base: nil, changesUnavailable: nil)
        let pipeline = try XCTUnwrap(PipelineLoader.load(text: yaml, file: "p.yml").pipeline)
        let p = try XCTUnwrap(Planner.plan(pipeline, options: .init(rules: inputs)).0)
        XCTAssertEqual(p.job("release")?.status, .skip)
        XCTAssertEqual(p.job("notify")?.status, .run)
        XCTAssertEqual(p.waves, [["notify"]])
    }

    func testAfterProblemsAreLocatedWithHints() {
        XCTAssertEqual(
            problems(
                """
                name: bad
                stages: [test, build]
                jobs:
                  lint: {stage: test, after: [lnit, build], steps: [{run: x}]}
                  build: {stage: build, steps: [{run: x}]}
                  a: {after: b, steps: [{run: x}]}
                  b: {needs: [a], steps: [{run: x}]}
                  c: {after: {x: 1}, steps: [{run: x}]}
                """),
            [
                "4:31: job `lint` runs after unknown job `lnit` (did you mean `lint`?)",
                "4:37: job `lint` (stage `test`) runs after `build` of the later stage `build` (move `build` to an earlier stage or `lint` to a later one)",
                "6:3: dependency cycle: a -> b -> a (remove one of these `needs` or `after` edges)",
                "8:14: `after` must be a list, got a mapping",
            ])
        XCTAssertEqual(
            problems("name: x\njobs:\n  a: {aftr: [b], steps: [{run: x}]}\n  b: {steps: [{run: x}]}\n"),
            ["3:7: unknown key `aftr` in job `a` (did you mean `after`?)"])
    }
}
