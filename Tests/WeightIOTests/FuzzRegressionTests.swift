import Foundation
import XCTest

@testable import WeightIO

/// Inputs found by the libFuzzer harnesses (Fuzz/, Tools/fuzz.sh) with their exact bytes, and the
/// smallest literal pickles of the same defect. Each must end in a typed error.
final class WeightIOFuzzRegressionTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz").path

    func assertSealedError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            XCTAssertTrue(e is WeightIOError, "\(e)", file: file, line: line)
            XCTAssertTrue("\(e)".contains("already placed in another value"), "\(e)", file: file, line: line)
        }
    }

    /// A list put into itself: EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP. Before: a reference
    /// cycle that leaked (LeakSanitizer under FuzzPickle).
    func testListIntoItself() {
        assertSealedError { _ = try unpickle([0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]) }
    }

    /// A list deepened after its parent took it: L1 = [], L2 = [], L1.append(L2), L2.append([]) —
    /// the way to nest without bound past the depth check.
    func testListChangedAfterPlacement() {
        // EMPTY_LIST BINPUT 0, EMPTY_LIST BINPUT 1, APPEND (L2 into L1), POP, BINGET 1, EMPTY_LIST, APPEND, STOP
        assertSealedError { _ = try unpickle([0x80, 0x02, 0x5D, 0x71, 0x00, 0x5D, 0x71, 0x01, 0x61, 0x30, 0x68, 0x01, 0x5D, 0x61, 0x2E]) }
    }

    func testFoundByFuzzPickle() throws {
        let b = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/pickle-cycle"))
        XCTAssertThrowsError(try unpickle(Array(b))) { XCTAssertTrue($0 is WeightIOError, "\($0)") }
    }

    func testFoundByFuzzTorchCheckpoint() {
        XCTAssertThrowsError(try TorchCheckpoint(path: fixtures + "/legacy-checkpoint-cycle.pt")) { XCTAssertTrue($0 is WeightIOError, "\($0)") }
    }
}
