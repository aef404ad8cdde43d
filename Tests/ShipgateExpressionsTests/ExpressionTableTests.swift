import ShipgateExpressions
import XCTest

/// GitHub's expression language against a table of expressions and the values GitHub's
/// documentation (docs.github.com, "Evaluate expressions in workflows and actions") and its
/// reference implementation give for them.
final class ExpressionTableTests: XCTestCase {
    let scope: ExpressionScope = {
        let event: ExpressionValue = .from(
            [
                "ref": "refs/heads/main",
                "pull_request": ["labels": [["name": "bug"], ["name": "Docs"]], "number": 7] as [String: Any?],
                "commits": [["message": "fix: one"], ["message": "feat: two"]],
            ] as [String: Any?])
        let contexts = ExpressionObject([
            ("github", .from(["event_name": "push", "ref": "refs/heads/main", "event": event, "repository": "octo/app"] as [String: Any?])),
            ("matrix", .from(["os": "ubuntu-latest", "python-version": "3.12", "node": 20] as [String: Any?])),
            ("needs", .from(["build": ["result": "success", "outputs": ["version": "1.2.3", "json": "{\"a\": [1, 2]}"]]] as [String: Any?])),
            ("env", .from(["GREETING": "Hello", "EMPTY": ""] as [String: Any?])),
            ("steps", .from(["test": ["outcome": "failure", "conclusion": "success", "outputs": [:] as [String: Any?]]] as [String: Any?])),
            ("list", .from([1, 2, 3])),
            ("obj", .from(["a": 1] as [String: Any?])),
        ])
        return ExpressionScope(contexts: contexts, status: { $0 == .always || $0 == .success }, hashFiles: { "hash:" + $0.joined(separator: ",") })
    }()

    private func value(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ExpressionValue? {
        do { return try ExpressionParser.parse(text).evaluate(in: scope) } catch {
            XCTFail("`\(text)`: \(error)", file: file, line: line)
            return nil
        }
    }

    /// `expression => expected` where expected is written as toJSON would print it.
    func testTheTable() {
        let table: [(String, String)] = [
            // Literals (docs: literals table).
            ("null", "null"), ("true", "true"), ("false", "false"), ("711", "711"), ("-9.2", "-9.2"), ("0xff", "255"),
            ("-2.99e-2", "-0.0299"), ("'It''s open source!'", "\"It's open source!\""), ("1.0", "1"),
            // Loose equality (docs: coercion table) and case-insensitive strings.
            ("null == 0", "true"), ("true == 1", "true"), ("false == 0", "true"), ("'' == 0", "true"), ("' 123 ' == 123", "true"),
            ("'0xff' == 255", "true"), ("'abc' == 0", "false"), ("'ABC' == 'abc'", "true"), ("NaN == NaN", "false"), ("'NaN' != NaN", "true"),
            ("true == 'true'", "false"), ("null == ''", "true"), ("null == false", "true"), ("list == list", "true"), ("obj == obj", "true"),
            ("fromJSON('[]') == fromJSON('[]')", "false"), ("1 == '1.0'", "true"),
            // Ordering.
            ("1 < 2", "true"), ("2 <= 2", "true"), ("'b' > 'A'", "true"), ("'a' < 'B'", "true"), ("false < true", "true"), ("null < 1", "true"),
            ("'10' > 9", "true"), ("list < list", "false"), ("NaN < 1", "false"), ("2 >= 3", "false"),
            // Logical operators return the deciding operand.
            ("true && 'a' || 'b'", "\"a\""), ("false && 'a' || 'b'", "\"b\""), ("'' || 'default'", "\"default\""), ("0 && 'x'", "0"),
            ("!''", "true"), ("!0", "true"), ("!'false'", "false"), ("!list", "false"), ("!!null", "false"),
            ("matrix.os == 'ubuntu-latest' && 'linux' || 'other'", "\"linux\""),
            // Property and index access; missing is null; names case-insensitive.
            ("github.event_name", "\"push\""), ("GitHub.Event_Name", "\"push\""), ("github['event_name']", "\"push\""), ("github.nope", "null"),
            ("github.nope.deeper", "null"), ("matrix.python-version", "\"3.12\""), ("matrix['python-version']", "\"3.12\""), ("list[1]", "2"),
            ("list[1.7]", "2"), ("list[7]", "null"), ("list[-1]", "null"), ("list['1']", "2"), ("needs.build.outputs.version", "\"1.2.3\""),
            ("needs.build.result == 'success'", "true"), ("steps.test.outcome", "\"failure\""), ("matrix.node", "20"),
            // The object filter.
            ("github.event.pull_request.labels.*.name", "[\n  \"bug\",\n  \"Docs\"\n]"), ("contains(github.event.pull_request.labels.*.name, 'docs')", "true"),
            ("github.event.commits.*.message[0]", "[]"), ("toJSON(list.*)", "\"[\\n  1,\\n  2,\\n  3\\n]\""), ("obj.*", "[\n  1\n]"),
            // Functions (docs: functions section).
            ("contains('Hello world', 'llo')", "true"), ("contains('Hello world', 'LLO')", "true"), ("contains(list, 2)", "true"),
            ("contains(list, '2')", "true"), ("contains(list, 4)", "false"), ("contains('abc', '')", "true"),
            ("startsWith('Hello world', 'he')", "true"), ("endsWith('Hello world', 'ORLD')", "true"), ("startsWith(list, 1)", "false"),
            ("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "\"Hello Mona the Octocat\""),
            ("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')", "\"{Hello Mona the Octocat!}\""), ("format('{0}', null)", "\"\""),
            ("format('{0}-{0}', 1.5)", "\"1.5-1.5\""), ("join(github.event.pull_request.labels.*.name, ', ')", "\"bug, Docs\""), ("join(list)", "\"1,2,3\""),
            ("join('abc')", "\"abc\""), ("toJSON(true)", "\"true\""), ("toJSON('a\"b')", "\"\\\"a\\\\\\\"b\\\"\""),
            ("toJSON(obj)", "\"{\\n  \\\"a\\\": 1\\n}\""),
            ("fromJSON('{\"a\": [1, 2]}').a[1]", "2"), ("fromJSON(needs.build.outputs.json).a[0]", "1"), ("fromJSON('true')", "true"),
            ("fromJSON(' 5 ') == 5", "true"), ("fromJSON('\"x\"')", "\"x\""), ("hashFiles('**/package-lock.json', 'x')", "\"hash:**/package-lock.json,x\""),
            ("success()", "true"), ("always()", "true"), ("failure()", "false"), ("cancelled()", "false"),
            // Numbers as text.
            ("format('{0}', 0.1)", "\"0.1\""), ("format('{0}', 3)", "\"3\""), ("format('{0}', 1e21)", "\"1e+21\""), ("format('{0}', -0)", "\"0\""),
            ("format('{0}', 0.00001)", "\"0.00001\""), ("format('{0}', 1.5e-7)", "\"1.5e-7\""), ("format('{0}', 0.1 )", "\"0.1\""),
            ("format('{0}', 1.0000000000000002)", "\"1\""), ("toJSON(0.30000000000000004)", "\"0.30000000000000004\""), ("toJSON(-2.5e-8)", "\"-2.5e-8\""),
        ]
        for (expression, expected) in table {
            guard let result = value(expression) else { continue }
            XCTAssertEqual(render(result), expected, expression)
        }
    }

    private func render(_ value: ExpressionValue) -> String {
        (try? ExpressionParser.parse("toJSON(x)").evaluate(in: ExpressionScope(contexts: ExpressionObject([("x", value)]))).text) ?? "?"
    }

    func testErrorsSayWhatAndWhere() {
        let cases: [(String, String, Int?)] = [
            ("github.", "expected a property name after `.`, found the end of the expression", 7),
            ("'open", "unterminated string (missing `'`)", 0),
            ("\"double\"", "strings use single quotes ('…'), not double quotes", 0),
            ("nope(1)", "unknown function `nope`", 0),
            ("contains('a')", "`contains` takes 2 arguments, got 1", 0),
            ("a == ", "expected a value, found the end of the expression", 5),
            ("(a", "expected `)` to close `(`, found the end of the expression", 2),
            ("a b", "unexpected `b` after the expression", 2),
            ("1 = 2", "unexpected character `=`", 2),
        ]
        for (text, message, offset) in cases {
            do {
                _ = try ExpressionParser.parse(text)
                XCTFail("`\(text)` parsed")
            } catch {
                XCTAssertTrue(error.message.hasPrefix(message), "`\(text)`: \(error.message)")
                XCTAssertEqual(error.offset, offset, text)
            }
        }
        XCTAssertThrowsError(try ExpressionParser.parse("unknown.x").evaluate(in: scope)) { error in
            XCTAssertEqual((error as? ExpressionError)?.message, "unrecognized named-value: `unknown`")
        }
        XCTAssertThrowsError(try ExpressionParser.parse("format('{1}', 'a')").evaluate(in: scope))
        XCTAssertThrowsError(try ExpressionParser.parse("format('{x}', 'a')").evaluate(in: scope))
        XCTAssertThrowsError(try ExpressionParser.parse("fromJSON('{bad')").evaluate(in: scope))
        XCTAssertThrowsError(try ExpressionParser.parse(String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)))
        XCTAssertThrowsError(try ExpressionParser.parse(String(repeating: "!", count: 500) + "1"))
        // Left-deep chains are bounded too (a 20,000-link chain once overflowed the stack).
        XCTAssertThrowsError(try ExpressionParser.parse("github" + String(repeating: ".a", count: 20_000)))
        XCTAssertThrowsError(try ExpressionParser.parse("github" + String(repeating: ".a", count: 60)))
        XCTAssertNoThrow(try ExpressionParser.parse("github" + String(repeating: ".a", count: 40)))
        XCTAssertThrowsError(try ExpressionParser.parse(Array(repeating: "1", count: 5_000).joined(separator: " == ")))
        XCTAssertThrowsError(try ExpressionParser.parse(String(repeating: "a", count: 21_001))) { error in
            XCTAssertEqual((error as? ExpressionError)?.message, "the expression is longer than 21000 characters (GitHub's limit)")
        }
        // A high surrogate without its low half is replaced, not a crash.
        XCTAssertEqual(value(#"fromJSON('"\uD800\u0041"')"#)?.text, "\u{FFFD}A")
        // contains and join on non-primitive arguments, as GitHub's implementation.
        XCTAssertEqual(value("contains(obj, 'bj')")?.text, "false")
        XCTAssertEqual(value("contains('my Array', fromJSON('[]'))")?.text, "false")
        XCTAssertEqual(value("join(list, fromJSON('[]'))")?.text, "1,2,3")
    }

    func testTemplatesKeepAloneValuesAndInterpolateText() throws {
        let lone = try ExpressionTemplate.parse(" ${{ fromJSON('[1, 2]') }} ").evaluate(in: scope)
        guard case .array(let array) = lone else { return XCTFail("\(lone)") }
        XCTAssertEqual(array.items.count, 2)
        XCTAssertEqual(try ExpressionTemplate.parse("v${{ needs.build.outputs.version }}-${{ matrix.node }}").text(in: scope), "v1.2.3-20")
        XCTAssertEqual(try ExpressionTemplate.parse("${{ '}}' }} and ${{ 'a' }}").text(in: scope), "}} and a", "`}}` inside a string does not end it")
        XCTAssertEqual(try ExpressionTemplate.parse("no expressions").text(in: scope), "no expressions")
        XCTAssertTrue(try ExpressionTemplate.parse("plain $ {{ x }}").isLiteral)
        XCTAssertThrowsError(try ExpressionTemplate.parse("a ${{ b ")) { error in XCTAssertEqual((error as? ExpressionError)?.offset, 2) }
        XCTAssertThrowsError(try ExpressionTemplate.parse("a ${{ b. }}")) { error in XCTAssertEqual((error as? ExpressionError)?.offset, 9) }
    }

    func testIfConditionsImplySuccessUnlessAStatusFunctionIsCalled() throws {
        func holds(_ text: String, success: Bool) throws -> Bool {
            var s = scope
            s.status = { status in
                switch status {
                case .always: true
                case .success: success
                case .failure: !success
                case .cancelled: false
                }
            }
            return try IfCondition.parse(text).holds(in: s)
        }
        XCTAssertTrue(try holds("github.event_name == 'push'", success: true))
        XCTAssertFalse(try holds("github.event_name == 'push'", success: false), "implied success()")
        XCTAssertTrue(try holds("${{ always() && github.event_name == 'push' }}", success: false))
        XCTAssertTrue(try holds("failure()", success: false))
        XCTAssertFalse(try holds("failure()", success: true))
        XCTAssertTrue(try holds("${{ !cancelled() }}", success: false))
        XCTAssertFalse(try holds("${{ github.event_name == 'pull_request' }}", success: true))
        XCTAssertTrue(try holds("${{ false }} || true", success: true), "a template that is not one expression is a non-empty string")
        XCTAssertEqual(IfCondition.default, try IfCondition.parse("success()"))
    }
}
