import XCTest

/// `XCTAssertThrowsError` for an async expression (XCTest's autoclosures cannot await).
func XCTAssertThrowsErrorAsync<T>(
    _ expression: @autoclosure () async throws -> T, _ message: String = "", file: StaticString = #filePath, line: UInt = #line,
    _ handler: (any Error) -> Void = { _ in }
) async {
    do {
        _ = try await expression()
        XCTFail("expected an error" + (message.isEmpty ? "" : ": " + message), file: file, line: line)
    } catch {
        handler(error)
    }
}
