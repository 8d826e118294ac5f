import XCTest
@testable import Tensor

final class FloatBufferTests: XCTestCase {
    /// A working buffer is replaced only when too small, then with a quarter more room, zeroed;
    /// a request it can hold keeps the same memory (and what was written there).
    func testEnsureGrowsOnlyWhenTooSmall() {
        var b = FloatBuffer(count: 0)
        let p = FloatBuffer.ensure(&b, holds: 100)
        XCTAssertEqual(b.count, 125)
        XCTAssertTrue((0..<125).allSatisfy { b[$0] == 0 })
        p[99] = 7
        let q = FloatBuffer.ensure(&b, holds: 120)
        XCTAssertEqual(q, p)
        XCTAssertEqual(b[99], 7)
        // Too small: a new buffer, zeroed (its address may be the old one's: once the old buffer is
        // released the allocator may hand the same block back, so the address proves nothing).
        let r = FloatBuffer.ensure(&b, holds: 126)
        XCTAssertEqual(r, b.pointer.baseAddress!)
        XCTAssertEqual(b.count, 126 + 31)
        XCTAssertEqual(b[99], 0)
        // An empty request still returns a usable pointer (one float).
        var e = FloatBuffer(count: 0)
        _ = FloatBuffer.ensure(&e, holds: 0)
        XCTAssertEqual(e.count, 1)
    }
}
