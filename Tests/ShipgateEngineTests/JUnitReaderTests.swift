import XCTest

@testable import ShipgateEngine

final class JUnitReaderTests: XCTestCase {
    func testPytestReportCountsEveryOutcome() throws {
        let xml = """
            <?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.05">\
            <testcase classname="tests.test_app" name="test_ok" time="0.001" />\
            <testcase classname="tests.test_app" name="test_bad" time="0.002"><failure message="assert 1 == 2">def test_bad():
            &gt;       assert 1 == 2</failure></testcase>\
            <testcase classname="tests.test_app" name="test_skip" time="0.000"><skipped type="pytest.skip" message="not on &quot;linux&quot;">/x.py:3</skipped></testcase>\
            <testcase classname="tests.test_app" name="test_err" time="0.000"><error message="failed on setup with &#x27;boom&#39;">E boom</error></testcase>\
            <!-- <testcase name="commented"/> --><testcase classname="c" name="p&amp;q"><system-out><![CDATA[<testcase name="in-cdata"/>]]></system-out></testcase>\
            </testsuite></testsuites>
            """
        let cases = try JUnitReader.read(xml)
        XCTAssertEqual(cases.map(\.name), ["test_ok", "test_bad", "test_skip", "test_err", "p&q"])
        XCTAssertEqual(cases.map(\.outcome), [.passed, .failed, .skipped, .error, .passed])
        XCTAssertEqual(cases[1].message, "assert 1 == 2")
        XCTAssertEqual(cases[2].message, "not on \"linux\"")
        XCTAssertEqual(cases[3].message, "failed on setup with 'boom'")
        XCTAssertEqual(cases[0].suite, "pytest")
        XCTAssertEqual(cases[0].time, 0.001)
        let summary = JUnitReader.summarize(cases, files: ["report.xml"])
        XCTAssertEqual(summary.text, "2 passed, 1 failed, 1 error, 1 skipped")
        XCTAssertEqual(summary.failed, ["tests.test_app.test_bad: assert 1 == 2", "tests.test_app.test_err: failed on setup with 'boom'"])
    }

    func testAFailureWithoutAMessageTakesTheFirstLineOfItsText() throws {
        let cases = try JUnitReader.read(
            "<testsuite name='go'><testcase classname='pkg' name='TestX'><failure>\n  x_test.go:9: want 2\nmore</failure></testcase></testsuite>")
        XCTAssertEqual(cases.first?.message, "x_test.go:9: want 2")
        XCTAssertEqual(cases.first?.outcome, .failed)
    }

    func testWhatIsNotJUnitIsRefusedWithAReason() {
        for (text, why) in [
            ("<html><body>hi</body></html>", "no <testsuite>"),
            ("<testsuite name=\"x\"", "unterminated <testsuite>"),
            ("<testsuite name=x>", "no quoted value"),
            ("<testsuite><![CDATA[never closed", "unterminated CDATA"),
            ("", "no <testsuite>"),
        ] {
            XCTAssertThrowsError(try JUnitReader.read(text), text) { error in
                XCTAssertTrue("\(error)".contains(why), "\(text): \(error)")
            }
        }
    }

    func testManyFailuresShowOnlyTheFirstTen() throws {
        let xml = "<testsuite>" + (0..<25).map { "<testcase name=\"t\($0)\"><failure message=\"m\"/></testcase>" }.joined() + "</testsuite>"
        let summary = JUnitReader.summarize(try JUnitReader.read(xml), files: [])
        XCTAssertEqual(summary.failures, 25)
        XCTAssertEqual(summary.failed.count, TestSummary.shownFailures)
    }

    /// The console and `resume` read job records back with `JSONDecoder`: `tests` survives.
    func testTestCountsSurviveTheJobRecord() throws {
        var result = JobResult(id: "test", status: .failed, startedAt: Date(timeIntervalSince1970: 1_700_000_000))
        result.tests = JUnitReader.summarize(
            try JUnitReader.read("<testsuite><testcase name='a'/><testcase name='b'><failure message='no'/></testcase></testsuite>"), files: ["r.xml"])
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISOTime.decoding
        let back = try decoder.decode(JobResult.self, from: Data(result.jsonLine.utf8))
        XCTAssertEqual(back.tests, result.tests)
        XCTAssertEqual(back.tests?.text, "1 passed, 1 failed")
        XCTAssertEqual(back.tests?.failed, ["b: no"])
    }
}
