import ShipgateLoading
import ShipgateModel
import XCTest

final class ValuesTests: XCTestCase {
    func testDurations() {
        XCTAssertEqual(TimeSpan.parse("500ms"), TimeSpan(milliseconds: 500))
        XCTAssertEqual(TimeSpan.parse("2s"), .seconds(2))
        XCTAssertEqual(TimeSpan.parse("1h30m"), .minutes(90))
        XCTAssertEqual(TimeSpan.parse("1d"), .seconds(86_400))
        XCTAssertEqual(TimeSpan.parse("90"), .seconds(90))
        for bad in ["", "m", "5x", "-1s", "1.5s", "s5", "1h 30m", "99999999999999999999d"] {
            XCTAssertNil(TimeSpan.parse(bad), bad)
        }
        XCTAssertEqual(TimeSpan.minutes(90).description, "1h30m")
        XCTAssertEqual(TimeSpan(milliseconds: 1500).description, "1s500ms")
        XCTAssertEqual(TimeSpan.zero.description, "0s")
    }

    func testRetryBackoffIsExponentialCappedAndJittered() {
        let policy = RetryPolicy(attempts: 5, backoff: .seconds(1), maxBackoff: .seconds(5))
        XCTAssertEqual((1...4).map { policy.baseDelay(afterAttempt: $0).milliseconds }, [1000, 2000, 4000, 5000])
        XCTAssertEqual(policy.delay(afterAttempt: 2, unit: 0).milliseconds, 1000)  // half fixed
        XCTAssertEqual(policy.delay(afterAttempt: 2, unit: 0.999_999).milliseconds, 1999)
        XCTAssertEqual(policy.baseDelay(afterAttempt: 200).milliseconds, 5000)  // no overflow
    }

    func testTemplateParsing() {
        let yaml = """
            name: t
            env: {A: "1"}
            jobs:
              a:
                matrix: {py: ["3.12"]}
                steps:
                  - run: "x ${{matrix.py}} y ${{ env.A }}${{ env.A }} z"
            """
        let pipeline = PipelineLoader.load(text: yaml, file: "t.yml").pipeline!
        let run = pipeline.jobs[0].steps[0].run
        XCTAssertEqual(
            run.segments,
            [
                .literal("x "), .expression(.matrix("py")), .literal(" y "), .expression(.env("A")), .expression(.env("A")), .literal(" z"),
            ])
        XCTAssertEqual(run.description, "x ${{ matrix.py }} y ${{ env.A }}${{ env.A }} z")
    }

    func testEnvValuesKeepTheirSpelling() {
        let yaml = """
            name: e
            env: {A: 1, B: true, C: 1.50, D: "x"}
            jobs: {a: {steps: [{run: x}]}}
            """
        let env = PipelineLoader.load(text: yaml, file: "e.yml").pipeline!.env
        XCTAssertEqual(env.map { "\($0.name)=\($0.value)" }, ["A=1", "B=true", "C=1.50", "D=x"])
    }

    func testExamplePipelinesValidate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["pipelines/demo.yml", "pipelines/ci.yml", "pipelines/examples/webapp.yml"] {
            let result = PipelineLoader.load(path: root.appendingPathComponent(name).path)
            XCTAssertEqual(result.diagnostics.map(\.description), [], name)
            XCTAssertNotNil(result.pipeline, name)
        }
    }
}
