import ShipgateCache
import ShipgateModel
import XCTest

final class GlobTests: XCTestCase {
    func testSegmentsAndDoubleStar() {
        let g = Glob("services/api/**")
        XCTAssertTrue(g.matches("services/api/app.py"))
        XCTAssertTrue(g.matches("services/api/pkg/deep/x.py"))
        XCTAssertFalse(g.matches("services/apix/app.py"))
        XCTAssertTrue(Glob("**/*.py").matches("a.py"))
        XCTAssertTrue(Glob("**/*.py").matches("a/b/c.py"))
        XCTAssertFalse(Glob("*.py").matches("a/b.py"), "`*` does not cross `/`")
        XCTAssertTrue(Glob("src/*/main.swift").matches("src/x/main.swift"))
        XCTAssertTrue(Glob("file?.[ch]").matches("file1.c"))
        XCTAssertFalse(Glob("file?.[ch]").matches("file1.o"))
        XCTAssertTrue(Glob("[!a]*").matches("bcd"))
        XCTAssertTrue(Glob("v[0-9].txt").matches("v7.txt"))
        XCTAssertTrue(Glob("a/**/b").matches("a/b"), "`**` matches zero directories")
    }

    func testLiteralPatternsCoverDirectories() {
        XCTAssertTrue(Glob("dist").matches("dist/a/b.txt"))
        XCTAssertTrue(Glob("./dist/").matches("dist/x"))
        XCTAssertFalse(Glob("dist").matches("distribution/x"))
    }

    func testFilterLastMatchWins() {
        let f = PathFilter(["services/api/**", "!services/api/tests/**", "services/api/tests/fixtures/keep.json"])
        XCTAssertTrue(f.includes("services/api/app.py"))
        XCTAssertFalse(f.includes("services/api/tests/test_app.py"))
        XCTAssertTrue(f.includes("services/api/tests/fixtures/keep.json"))
        XCTAssertEqual(PathFilter(["a/**", "a/b/**", "c/*.txt", "**/x"]).roots, [""])
        XCTAssertEqual(PathFilter(["a/**", "a/b/**", "c/*.txt"]).roots, ["a", "c"])
    }
}
