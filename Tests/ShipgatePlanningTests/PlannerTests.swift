import ShipgateLoading
import ShipgateModel
import ShipgatePlanning
import XCTest

/// The plan as a value: stages, needs, matrix, cycles, selection, interpolation — no process runs.
final class PlannerTests: XCTestCase {
    private func load(_ yaml: String) throws -> Pipeline {
        let result = PipelineLoader.load(text: yaml, file: "p.yml")
        guard let pipeline = result.pipeline else {
            XCTFail(result.diagnostics.map(\.description).joined(separator: "\n"))
            throw CancellationError()
        }
        return pipeline
    }

    private func plan(_ yaml: String, jobs: [String] = []) throws -> ExecutionPlan {
        let (plan, diagnostics) = Planner.plan(try load(yaml), options: .init(selectedJobs: jobs))
        guard let plan else {
            XCTFail(diagnostics.map(\.description).joined(separator: "\n"))
            throw CancellationError()
        }
        return plan
    }

    private func graphErrors(_ yaml: String) throws -> [String] {
        Planner.plan(try load(yaml)).1.map { "\($0.location.map { "\($0.line):\($0.column)" } ?? "-"): \($0.message)" }
    }

    func testStagesGiveImplicitNeedsAndExplicitNeedsOverride() throws {
        let p = try plan(
            """
            name: s
            stages: [lint, test, deploy]
            jobs:
              ruff: {stage: lint, steps: [{run: x}]}
              mypy: {stage: lint, steps: [{run: x}]}
              unit: {stage: test, steps: [{run: x}]}
              e2e: {stage: test, needs: [ruff], steps: [{run: x}]}
              docs: {stage: test, needs: [], steps: [{run: x}]}
              ship: {stage: deploy, steps: [{run: x}]}
            """)
        XCTAssertEqual(p.job("unit")?.needs, ["ruff", "mypy"])
        XCTAssertEqual(p.job("e2e")?.needs, ["ruff"])
        XCTAssertEqual(p.job("docs")?.needs, [])
        XCTAssertEqual(p.job("ship")?.needs, ["ruff", "mypy", "unit", "e2e", "docs"])
        XCTAssertEqual(p.waves, [["ruff", "mypy", "docs"], ["unit", "e2e"], ["ship"]])
        XCTAssertEqual(p.jobs.map(\.id), ["ruff", "mypy", "docs", "unit", "e2e", "ship"])
    }

    func testStageOrderDefaultsToFirstAppearance() throws {
        let p = try plan(
            """
            name: s
            jobs:
              build: {stage: build, steps: [{run: x}]}
              test: {stage: test, steps: [{run: x}]}
              lint: {stage: build, steps: [{run: x}]}
            """)
        XCTAssertEqual(p.job("test")?.needs, ["build", "lint"])
    }

    func testMatrixExpansionWithExclude() throws {
        let p = try plan(
            """
            name: m
            jobs:
              unit:
                matrix:
                  os: [linux, mac]
                  py: ["3.11", "3.12"]
                  exclude: [{os: mac, py: "3.11"}]
                env: {PY: "${{ matrix.py }}"}
                steps: [{run: "test-${{ matrix.os }} $PY"}]
              report: {needs: [unit], steps: [{run: x}]}
            """)
        XCTAssertEqual(p.jobs.map(\.id), ["unit (os=linux, py=3.11)", "unit (os=linux, py=3.12)", "unit (os=mac, py=3.12)", "report"])
        XCTAssertEqual(p.job("report")?.needs.count, 3)
        let mac = p.job("unit (os=mac, py=3.12)")!
        XCTAssertEqual(mac.steps[0].script.description, "test-mac $PY")
        XCTAssertEqual(mac.steps[0].env.first { $0.name == "PY" }?.value.description, "3.12")
        XCTAssertEqual(mac.matrix, [MatrixValue(axis: "os", value: "mac"), MatrixValue(axis: "py", value: "3.12")])
    }

    func testEnvInnermostWinsAndNeedsOutputsStayForRunTime() throws {
        let p = try plan(
            """
            name: e
            env: {A: pipeline, B: pipeline}
            jobs:
              build:
                steps: [{run: x}]
              deploy:
                needs: [build]
                env: {B: "job-${{ env.A }}", C: job}
                steps:
                  - run: echo ${{ env.A }} ${{ env.B }} ${{ env.C }} ${{ needs.build.outputs.version }}
                    env: {C: step}
            """)
        let step = p.job("deploy")!.steps[0]
        XCTAssertEqual(step.script.description, "echo pipeline job-pipeline step ${{ needs.build.outputs.version }}")
        XCTAssertEqual(step.env.map { "\($0.name)=\($0.value)" }, ["A=pipeline", "B=job-pipeline", "C=step"])
        XCTAssertEqual(p.job("deploy")!.outputDependencies, ["build"])
    }

    func testDefaultsApply() throws {
        let p = try plan(
            """
            name: d
            defaults: {timeout: 10m, retry: {attempts: 2, backoff: 2s}, shell: bash, working-directory: src}
            jobs:
              a: {steps: [{run: x}]}
              b: {timeout: 1m, retry: {attempts: 4}, shell: sh, steps: [{run: x, working-directory: other}]}
            """)
        let a = p.job("a")!, b = p.job("b")!
        XCTAssertEqual(a.timeout, .minutes(10))
        XCTAssertEqual(a.retry, RetryPolicy(attempts: 2, backoff: .seconds(2), maxBackoff: .seconds(30)))
        XCTAssertEqual(a.steps[0].shell, .bash)
        XCTAssertEqual(a.steps[0].workingDirectory?.description, "src")
        XCTAssertEqual(b.timeout, .minutes(1))
        XCTAssertEqual(b.retry.attempts, 4)
        XCTAssertEqual(b.retry.backoff, .seconds(2), "job retry fields not given come from defaults")
        XCTAssertEqual(b.steps[0].shell, .sh)
        XCTAssertEqual(b.steps[0].workingDirectory?.description, "other")
    }

    func testCyclesPrintTheWholePath() throws {
        XCTAssertEqual(
            try graphErrors(
                """
                name: c
                jobs:
                  a: {needs: [c], steps: [{run: x}]}
                  b: {needs: [a], steps: [{run: x}]}
                  c: {needs: [b], steps: [{run: x}]}
                  d: {needs: [d], steps: [{run: x}]}
                """), ["3:3: dependency cycle: a -> c -> b -> a", "6:3: dependency cycle: d -> d"])
    }

    func testUnknownNeedsSuggests() throws {
        let (_, diagnostics) = Planner.plan(
            try load(
                """
                name: u
                jobs:
                  build: {steps: [{run: x}]}
                  test: {needs: [biuld], steps: [{run: x}]}
                """))
        XCTAssertEqual(diagnostics.map(\.message), ["job `test` needs unknown job `biuld`"])
        XCTAssertEqual(diagnostics.first?.location?.line, 4)
        XCTAssertEqual(diagnostics.first?.location?.column, 18)
        XCTAssertEqual(diagnostics.first?.hint, "did you mean `build`?")
    }

    func testNeedingALaterStageIsAnError() throws {
        XCTAssertEqual(
            try graphErrors(
                """
                name: l
                stages: [test, deploy]
                jobs:
                  ship: {stage: deploy, steps: [{run: x}]}
                  unit: {stage: test, needs: [ship], steps: [{run: x}]}
                """), ["5:31: job `unit` (stage `test`) needs `ship` of the later stage `deploy`"])
    }

    func testDuplicateIDsAfterMatrixExpansion() throws {
        XCTAssertEqual(
            try graphErrors(
                """
                name: dup
                jobs:
                  unit:
                    matrix: {py: ["3.11", "3.11"]}
                    steps: [{run: x}]
                """), ["4:13: duplicate job id `unit (py=3.11)` after matrix expansion"])
    }

    func testJobSelectionIncludesWhatIsNeeded() throws {
        let yaml = """
            name: sel
            jobs:
              lint: {needs: [], steps: [{run: x}]}
              build: {needs: [], steps: [{run: x}]}
              unit: {needs: [build], matrix: {py: ["3.11", "3.12"]}, steps: [{run: x}]}
              deploy: {needs: [unit], steps: [{run: x}]}
            """
        let p = try plan(yaml, jobs: ["unit (py=3.12)"])
        XCTAssertEqual(p.runnable.map(\.id), ["build", "unit (py=3.12)"])
        XCTAssertEqual(p.job("lint")?.status, .skip)
        XCTAssertEqual(p.job("lint")?.reason, "not selected (--job unit (py=3.12))")
        XCTAssertEqual(p.waves, [["build"], ["unit (py=3.12)"]])
        XCTAssertEqual(try plan(yaml, jobs: ["deploy"]).runnable.count, 4)

        let (none, problems) = Planner.plan(try load(yaml), options: .init(selectedJobs: ["deplyo"]))
        XCTAssertNil(none)
        XCTAssertEqual(problems.map(\.message), ["no job `deplyo` in p.yml"])
        XCTAssertEqual(problems.first?.hint, "did you mean `deploy`?")
    }

    func testWhenRulesSkipWithReasonsAndTakeDependentsAlong() throws {
        let yaml = """
            name: rules
            jobs:
              api: {when: {changes: ["services/api/**"]}, steps: [{run: x}]}
              web: {when: {changes: ["web/**", "!web/docs/**"]}, steps: [{run: x}]}
              release: {when: {tags: ["v*"], branches: ["release/*"]}, steps: [{run: x}]}
              deploy: {needs: [release], steps: [{run: x}]}
              prod: {when: {manual: true}, steps: [{run: x}]}
            """
        let inputs = RuleInputs(
            branch: "feature/x", tags: [], gitUnavailable: nil, changedPaths: ["services/api/app.py", "web/docs/readme.md"],
            base: "the merge base with main (abc1234)", changesUnavailable: nil)
        let (p, _) = Planner.plan(try load(yaml), options: .init(rules: inputs))
        let plan = try XCTUnwrap(p)
        XCTAssertEqual(plan.job("api")?.status, .run)
        XCTAssertEqual(plan.job("api")?.reason, "runs: changes: services/api/app.py matched")
        XCTAssertEqual(plan.job("web")?.status, .skip)
        XCTAssertEqual(
            plan.job("web")?.reason, "when: changes: none of the 2 changed paths since the merge base with main (abc1234) matched web/**, !web/docs/**")
        XCTAssertEqual(plan.job("release")?.reason, "when: branch `feature/x` matches none of release/*; no tag points at this commit (wanted v*)")
        XCTAssertEqual(plan.job("deploy")?.reason, "needs `release`, which is skipped")
        XCTAssertEqual(plan.job("prod")?.reason, "manual: run it with --job prod")
        XCTAssertEqual(plan.waves, [["api"]])

        var onTag = inputs
        onTag.branch = nil
        onTag.tags = ["v1.2.0"]
        XCTAssertEqual(Planner.plan(try load(yaml), options: .init(rules: onTag)).0?.job("release")?.status, .run, "either the branch or a tag is enough")
        XCTAssertEqual(Planner.plan(try load(yaml), options: .init(selectedJobs: ["prod"], rules: inputs)).0?.job("prod")?.status, .run)

        let noBase = RuleInputs(branch: "main", tags: [], gitUnavailable: nil, changedPaths: nil, base: nil, changesUnavailable: "no base to compare with")
        let unknown = Planner.plan(try load(yaml), options: .init(rules: noBase)).0
        XCTAssertEqual(unknown?.job("web")?.status, .run, "never skipped silently without a base")
        XCTAssertEqual(unknown?.job("web")?.reason, "runs: changes not checked: no base to compare with; running")

        let noGit = RuleInputs(branch: nil, tags: [], gitUnavailable: "not a git repository", changedPaths: nil, base: nil, changesUnavailable: nil)
        XCTAssertEqual(
            Planner.plan(try load(yaml), options: .init(rules: noGit)).0?.job("release")?.reason,
            "when: branch/tag rules need git context (not a git repository)", "branch and tag rules fail closed")
    }

    func testRuleSkipsFollowExplicitNeedsOnlyAndBranchNamesMatchExactly() throws {
        let yaml = """
            name: stages
            stages: [test, build]
            jobs:
              web: {stage: test, when: {changes: ["web/**"]}, steps: [{run: x}]}
              api: {stage: test, steps: [{run: x}]}
              build: {stage: build, steps: [{run: x}]}
              pkg: {stage: build, needs: [web], steps: [{run: x}]}
              rel: {when: {branches: [release]}, steps: [{run: x}]}
            """
        let inputs = RuleInputs(
            branch: "release/1.0", tags: [], gitUnavailable: nil, changedPaths: ["api/x"], base: "--base HEAD (abc1234)", changesUnavailable: nil)
        let plan = try XCTUnwrap(Planner.plan(try load(yaml), options: .init(rules: inputs)).0)
        XCTAssertEqual(plan.job("web")?.status, .skip)
        XCTAssertEqual(plan.job("web")?.reason, "when: changes: none of the 1 changed path since --base HEAD (abc1234) matched web/**")
        XCTAssertEqual(plan.job("build")?.status, .run, "stage order does not carry a rule skip")
        XCTAssertEqual(plan.job("pkg")?.status, .skip, "an explicit need does")
        XCTAssertEqual(plan.job("rel")?.status, .skip, "`release` does not match `release/1.0`")
    }

    func testGitContextIsInterpolatedEverywhere() throws {
        let yaml = """
            name: g
            env: {V: "v-${{ git.version }}"}
            defaults: {working-directory: "builds/${{ git.branch }}"}
            jobs:
              a:
                steps:
                  - run: echo ${{ git.commit_short }} $V
                  - run: pwd
                    working-directory: "out/${{ git.actor }}"
            """
        let git = ["version": "v1.2.0", "branch": "main", "commit_short": "abc1234", "actor": "ada"]
        let plan = try XCTUnwrap(Planner.plan(try load(yaml), options: .init(git: git)).0)
        let steps = try XCTUnwrap(plan.job("a")?.steps)
        XCTAssertEqual(steps[0].script.description, "echo abc1234 $V")
        XCTAssertEqual(steps[0].env.first { $0.name == "V" }?.value.description, "v-v1.2.0")
        XCTAssertEqual(steps[0].workingDirectory?.description, "builds/main")
        XCTAssertEqual(steps[1].workingDirectory?.description, "out/ada")
    }

    func testPlanIsCodableAndStable() throws {
        let yaml = "name: c\njobs: {a: {steps: [{run: x}]}, b: {needs: [a], steps: [{run: y}]}}\n"
        let first = try plan(yaml), second = try plan(yaml)
        XCTAssertEqual(first, second)
        let data = try JSONEncoder().encode(first)
        XCTAssertEqual(try JSONDecoder().decode(ExecutionPlan.self, from: data), first)
    }

    func testWideGraphPlansQuickly() throws {
        var yaml = "name: wide\njobs:\n"
        for i in 0..<2000 { yaml += "  j\(i): {needs: [\(i > 0 ? "j\(i - 1)" : "")], steps: [{run: \"true\"}]}\n" }
        let p = try plan(yaml)
        XCTAssertEqual(p.waves.count, 2000)
    }
}
