import Foundation
import XCTest

@testable import ShipgateGate

final class KeyTests: XCTestCase {
    func testKeygenWritesPrivateFileThatOthersCannotRead() throws {
        let dir = NSTemporaryDirectory() + "keys-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = ApproverKey(name: "ada")
        let (priv, pub) = try key.write(directory: dir)
        var st = stat()
        XCTAssertEqual(stat(priv, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let read = try ApproverKey.read(path: priv)
        XCTAssertEqual(read.name, "ada")
        XCTAssertEqual(read.publicKeyText, key.publicKeyText)
        XCTAssertEqual(try String(contentsOfFile: pub, encoding: .utf8), key.publicKeyText + "\n")
        XCTAssertThrowsError(try key.write(directory: dir), "refuses to overwrite")
        chmod(priv, 0o644)
        XCTAssertThrowsError(try ApproverKey.read(path: priv)) { error in
            XCTAssertTrue("\(error)".contains("chmod 600"), "\(error)")
        }
    }
}
