import ShipgateEngine
import XCTest

final class OutputsAndMaskingTests: XCTestCase {
    func testOutputsFileFormats() {
        let (outputs, problems) = OutputsFile.parse("a=1\nb=x=y\nmulti<<END\none\ntwo\nEND\na=2\n\nbad line\n1x=3\n")
        XCTAssertEqual(outputs, ["a": "2", "b": "x=y", "multi": "one\ntwo"])
        XCTAssertEqual(problems, ["line 9: expected `key=value` or `key<<DELIMITER`, got `bad line`", "invalid output name `1x`"])
        XCTAssertEqual(OutputsFile.parse("k<<EOF\nunterminated\n").problems, ["line 3: `k<<EOF` has no closing `EOF`"])
    }

    func testMaskerReplacesLongestFirstAndEachLineOfMultilineValues() {
        let masker = SecretMasker(values: ["abc", "abcdef", "line1\nline2", ""])
        XCTAssertEqual(masker("x abcdef y abc"), "x *** y ***")
        XCTAssertEqual(masker("got line2"), "got ***")
        XCTAssertEqual(SecretMasker.none("abc"), "abc")
    }

    func testRunIDsSortByTimeAndDoNotCollide() {
        let ids = (0..<200).map { _ in RunDirectory.newRunID() }
        XCTAssertEqual(Set(ids).count, ids.count)
        XCTAssertNotNil(ids[0].range(of: #"^\d{8}-\d{6}-[0-9a-f]{6}$"#, options: .regularExpression))
        XCTAssertEqual(RunDirectory.fileName(for: "unit (os=linux, py=3.12)"), "unit-os=linux-py=3.12")
        XCTAssertEqual(RunDirectory.fileName(for: "../../etc/passwd"), ".._.._etc_passwd")
    }
}
