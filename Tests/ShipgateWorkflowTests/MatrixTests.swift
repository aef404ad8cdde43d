import ShipgateExpressions
import ShipgateWorkflow
import XCTest

/// Matrix expansion against the examples of GitHub's documentation ("Running variations of
/// jobs in a workflow"), with the combinations the documentation lists for them.
final class MatrixTests: XCTestCase {
    private func expand(_ json: String, file: StaticString = #filePath, line: UInt = #line) -> [String] {
        do {
            let value = try ExpressionParser.parse("fromJSON(m)").evaluate(in: ExpressionScope(contexts: ExpressionObject([("m", .string(json))])))
            return try Matrix.expand(value).map { c in c.values.map { "\($0.key)=\($0.value.text)" }.joined(separator: " ") }
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return []
        }
    }

    func testTheProductVariesTheFirstKeySlowest() {
        XCTAssertEqual(
            expand(#"{"version": [10, 12, 14], "os": ["ubuntu-latest", "windows-latest"]}"#),
            [
                "version=10 os=ubuntu-latest", "version=10 os=windows-latest", "version=12 os=ubuntu-latest", "version=12 os=windows-latest",
                "version=14 os=ubuntu-latest", "version=14 os=windows-latest",
            ])
    }

    /// The documentation's fruit and animal example, combination for combination.
    func testIncludeJoinsWithoutOverwritingOriginalValuesAndOtherwiseAddsACombination() {
        let matrix = #"""
            {"fruit": ["apple", "pear"], "animal": ["cat", "dog"], "include": [
              {"color": "green"}, {"color": "pink", "animal": "cat"}, {"fruit": "apple", "shape": "circle"},
              {"fruit": "banana"}, {"fruit": "banana", "animal": "cat"}]}
            """#
        XCTAssertEqual(
            expand(matrix),
            [
                "fruit=apple animal=cat color=pink shape=circle", "fruit=apple animal=dog color=green shape=circle",
                "fruit=pear animal=cat color=pink", "fruit=pear animal=dog color=green", "fruit=banana", "fruit=banana animal=cat",
            ])
    }

    func testIncludeExtendsOneCombination() {
        XCTAssertEqual(
            expand(#"{"os": ["windows-latest", "ubuntu-latest"], "node": [14, 16], "include": [{"os": "windows-latest", "node": 16, "npm": 6}]}"#),
            ["os=windows-latest node=14", "os=windows-latest node=16 npm=6", "os=ubuntu-latest node=14", "os=ubuntu-latest node=16"])
    }

    func testOnlyIncludeEntriesAreTheCombinations() {
        XCTAssertEqual(
            expand(#"{"include": [{"site": "production", "datacenter": "site-a"}, {"site": "staging", "datacenter": "site-b"}]}"#),
            ["site=production datacenter=site-a", "site=staging datacenter=site-b"])
    }

    func testExcludeRemovesPartialMatchesBeforeInclude() {
        let matrix = #"""
            {"os": ["macos-latest", "windows-latest"], "version": [12, 14, 16], "environment": ["staging", "production"],
             "exclude": [{"os": "macos-latest", "version": 12, "environment": "production"}, {"os": "windows-latest", "version": 16}]}
            """#
        let combinations = expand(matrix)
        XCTAssertEqual(combinations.count, 12 - 1 - 2, "the documentation: 12 combinations, 3 excluded")
        XCTAssertFalse(combinations.contains("os=macos-latest version=12 environment=production"))
        XCTAssertFalse(combinations.contains { $0.hasPrefix("os=windows-latest version=16") })
        XCTAssertEqual(expand(#"{"a": [1, 2], "exclude": [{"a": 1}], "include": [{"a": 1, "b": 2}]}"#), ["a=2", "a=1 b=2"])
    }

    func testObjectValuesMatchByContentAndNameTheJob() throws {
        let value = try ExpressionParser.parse("fromJSON(m)").evaluate(
            in: ExpressionScope(
                contexts: ExpressionObject([
                    (
                        "m",
                        .string(
                            #"{"cfg": [{"os": "linux", "arch": "x64"}], "py": ["3.12"], "include": [{"cfg": {"os": "linux", "arch": "x64"}, "extra": true}]}"#)
                    )
                ])))
        let combinations = try Matrix.expand(value)
        XCTAssertEqual(combinations.count, 1)
        XCTAssertEqual(combinations[0]["extra"]?.text, "true")
        XCTAssertEqual(combinations[0].jobName("test"), #"test ({ "os": "linux", "arch": "x64" }, 3.12, true)"#)
    }

    func testProblemsAreSpecific() throws {
        let cases: [(String, String)] = [
            (#"{"os": []}"#, "matrix key `os` is an empty list: the matrix would have no job"),
            (#"{"os": "linux"}"#, "matrix key `os` must be a list of values, got a string"),
            (#"{"os": ["a"], "exclude": [{"arch": "x"}]}"#, "matrix `exclude` key `arch` is not a key of the matrix (os)"),
            (#"{"os": ["a"], "exclude": [{"os": "a"}]}"#, "the matrix has no combination left (every one is excluded)"),
            (#"{"include": "x"}"#, "matrix `include` must be a list of mappings, got a string"),
        ]
        for (json, message) in cases {
            let value = try ExpressionParser.parse("fromJSON(m)").evaluate(in: ExpressionScope(contexts: ExpressionObject([("m", .string(json))])))
            XCTAssertThrowsError(try Matrix.expand(value), json) { error in XCTAssertEqual((error as? Matrix.Problem)?.message, message) }
        }
        // A product far over the limit is refused before it is built (it once took 6.5 GB).
        let axis = "[" + (0..<129).map(String.init).joined(separator: ",") + "]"
        let huge = try ExpressionParser.parse("fromJSON(m)").evaluate(
            in: ExpressionScope(contexts: ExpressionObject([("m", .string("{\"a\": \(axis), \"b\": \(axis)}"))])))
        XCTAssertThrowsError(try Matrix.expand(huge)) { error in
            XCTAssertEqual((error as? Matrix.Problem)?.message, "the matrix has more than 16384 combinations before `exclude`; GitHub allows at most 256")
        }
        let big = "{" + (0..<9).map { #""k\#($0)": [1, 2]"# }.joined(separator: ", ") + "}"
        let value = try ExpressionParser.parse("fromJSON(m)").evaluate(in: ExpressionScope(contexts: ExpressionObject([("m", .string(big))])))
        XCTAssertThrowsError(try Matrix.expand(value)) { error in
            XCTAssertEqual((error as? Matrix.Problem)?.message, "the matrix has 512 combinations; GitHub allows at most 256")
        }
    }
}
