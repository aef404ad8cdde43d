import ShipgateLoading
import ShipgateModel
import XCTest

/// `$NAME`, `${NAME}` and `$$` in `env` values: parsed by the loader, refused where they cannot work.
final class EnvVariableTests: XCTestCase {
    private func problems(_ yaml: String) -> [String] {
        PipelineLoader.load(text: yaml, file: "p.yml").diagnostics.map { d in
            "\(d.location.map { "\($0.line):\($0.column)" } ?? "-"): \(d.message)\(d.hint.map { " (\($0))" } ?? "")"
        }
    }

    func testVariablesAreParsedInEnvValuesAtEveryLevel() throws {
        let yaml = """
            name: v
            env: {PATH: "$HOME/bin:${PATH}", PRICE: "5$$ each", LONE: "a $ b $1"}
            jobs:
              a:
                env: {TOOL: "${TOOLS}/x-${{ git.branch }}"}
                steps:
                  - env: {V: "$V_1"}
                    run: echo "$HOME ${PATH} $$"
            """
        let result = PipelineLoader.load(text: yaml, file: "p.yml")
        XCTAssertEqual(result.diagnostics, [])
        let pipeline = try XCTUnwrap(result.pipeline)
        let env = Dictionary(pipeline.env.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(env["PATH"]?.segments, [.expression(.variable("HOME")), .literal("/bin:"), .expression(.variable("PATH"))])
        XCTAssertEqual(env["PRICE"]?.segments, [.literal("5$ each")])
        XCTAssertEqual(env["LONE"]?.segments, [.literal("a $ b $1")], "a `$` not followed by a name stays")
        XCTAssertEqual(
            pipeline.jobs[0].env[0].value.segments, [.expression(.variable("TOOLS")), .literal("/x-"), .expression(.git("branch"))])
        XCTAssertEqual(pipeline.jobs[0].steps[0].env[0].value.segments, [.expression(.variable("V_1"))])
        XCTAssertEqual(pipeline.jobs[0].steps[0].run.segments, [.literal("echo \"$HOME ${PATH} $$\"")], "scripts are left to the shell")

        let expanded = try XCTUnwrap(env["PATH"]).expandingVariables(["HOME": "/home/ada", "PATH": "/usr/bin"])
        XCTAssertEqual(expanded.description, "/home/ada/bin:/usr/bin")
        XCTAssertEqual(try XCTUnwrap(env["PATH"]).expandingVariables([:]).description, "/bin:", "unset is empty")
        XCTAssertEqual(try XCTUnwrap(env["PATH"]).description, "${HOME}/bin:${PATH}", "plan shows them unexpanded")
    }

    func testProblemsAreLocatedWithHints() {
        XCTAssertEqual(
            problems(
                """
                name: v
                secrets: [TOKEN]
                env:
                  A: "x ${HOME"
                  B: "${A:-b} and ${}"
                  C: "Bearer $TOKEN"
                  D: "$SHIPGATE_WORKSPACE/bin"
                  F: "v-$SHIPGATE_VERSION $SHIPGATE_STATE_DIR"
                jobs:
                  a:
                    steps:
                      - env:
                          E: |
                            ok $HOME
                            ${broken
                        run: x
                """),
            [
                "4:9: unterminated `${` (missing `}`) (write `${NAME}`, or `$$` for a literal `$`)",
                "5:7: `${A:-b}` is not a variable reference (only `$NAME` and `${NAME}` are expanded (no defaults or other shell syntax); write `$$` for a literal `$`)",
                "5:19: `${}` is not a variable reference (only `$NAME` and `${NAME}` are expanded (no defaults or other shell syntax); write `$$` for a literal `$`)",
                "6:14: `$TOKEN` in an `env` value names a secret, which is not expanded there (steps already have `TOKEN` in their environment: write `\"$TOKEN\"` in the script)",
                "7:7: `$SHIPGATE_WORKSPACE` is set by shipgate for each step and is not available in `env` values (use it in the script; to put a directory on PATH, have a step append it to \"$SHIPGATE_PATH\")",
                "8:9: `$SHIPGATE_VERSION` is set by shipgate for each step and is not available in `env` values (write `${{ git.version }}`, which is)",
                "15:13: unterminated `${` (missing `}`) (write `${NAME}`, or `$$` for a literal `$`)",
            ])
    }
}
