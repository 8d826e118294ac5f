import XCTest

@testable import WeightIO

/// Unpickles literal bytes with no persistent ids allowed.
func unpickle(_ bytes: [UInt8]) throws -> PickleValue {
    try bytes.withUnsafeBytes { buf in
        var u = RestrictedUnpickler(bytes: buf, file: "p.pkl") { _, at in
            throw WeightIOError.pickleMalformed(file: "p.pkl", offset: at, problem: "no persistent ids here")
        }
        return try u.load()
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

final class PickleTests: XCTestCase {
    func testOrderedDictOfScalars() throws {
        // pickle.dumps(collections.OrderedDict(a=1, b=[2.5, 'x']), protocol=2)
        let p: [UInt8] = [0x80, 0x02, 0x63] + bytes("collections\nOrderedDict\n") + [0x71, 0x00, 0x29, 0x52, 0x71, 0x01,
            0x28, 0x58, 0x01, 0, 0, 0, 0x61, 0x4B, 0x01, 0x58, 0x01, 0, 0, 0, 0x62, 0x5D, 0x71, 0x02,
            0x28, 0x47, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0x58, 0x01, 0, 0, 0, 0x78, 0x65, 0x75, 0x2E]
        guard case let .dict(d) = try unpickle(p) else { return XCTFail() }
        XCTAssertEqual(d.items.count, 2)
        XCTAssertEqual(d.items[0].0.stringValue, "a")
        XCTAssertEqual(d.items[0].1.intValue, 1)
        guard case let .list(l) = d.items[1].1, case let .float(x) = l.items[0] else { return XCTFail() }
        XCTAssertEqual(x, 2.5)
        XCTAssertEqual(l.items[1].stringValue, "x")
    }

    func assertRefused(_ p: [UInt8], naming name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try unpickle(p), file: file, line: line) { e in
            guard case let .pickleForbiddenGlobal(_, _, n)? = e as? WeightIOError else { return XCTFail("\(e)", file: file, line: line) }
            XCTAssertEqual(n, name, file: file, line: line)
        }
    }

    func testGlobalOsSystemIsRefused() {
        // cos\nsystem\n(S'echo pwned'\ntR.
        assertRefused(bytes("cos\nsystem\n(S'echo pwned'\ntR."), naming: "os.system")
    }

    func testBuiltinsEvalIsRefused() {
        assertRefused([0x80, 0x02] + bytes("cbuiltins\neval\n") + [0x58, 4, 0, 0, 0] + bytes("1+1)") + [0x85, 0x52, 0x2E], naming: "builtins.eval")
    }

    func testStackGlobalIsChecked() {
        // protocol 4: SHORT_BINUNICODE 'subprocess', SHORT_BINUNICODE 'Popen', STACK_GLOBAL
        assertRefused([0x80, 0x04, 0x8C, 10] + bytes("subprocess") + [0x8C, 5] + bytes("Popen") + [0x93, 0x2E], naming: "subprocess.Popen")
    }

    func testReduceOfANonCallableIsRefused() {
        // REDUCE with a string where the callable should be
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0x58, 1, 0, 0, 0, 0x61, 0x29, 0x52, 0x2E])) {
            XCTAssertTrue("\($0)".contains("p.pkl: pickle malformed at offset 9: REDUCE of a non-callable 'a'"), "\($0)")
        }
    }

    func testReduceOfAnAllowedButUncallableGlobal() {
        XCTAssertThrowsError(try unpickle([0x80, 0x02] + bytes("ctorch\nFloatStorage\n") + [0x29, 0x52, 0x2E])) {
            XCTAssertTrue("\($0)".contains("torch.FloatStorage: cannot be called"), "\($0)")
        }
    }

    func testUnknownOpcodeTruncationAndUnderflow() {
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0xFF])) {
            XCTAssertEqual($0 as? WeightIOError, .pickleUnknownOpcode(file: "p.pkl", offset: 2, opcode: 0xFF))
        }
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0x58, 9, 0, 0, 0, 0x61])) {
            XCTAssertEqual($0 as? WeightIOError, .pickleTruncated(file: "p.pkl", offset: 8))
        }
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0x2E])) {
            XCTAssertEqual($0 as? WeightIOError, .pickleMalformed(file: "p.pkl", offset: 2, problem: "stack underflow"))
        }
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0x68, 0x07, 0x2E])) {
            XCTAssertEqual($0 as? WeightIOError, .pickleMalformed(file: "p.pkl", offset: 2, problem: "memo key 7 was never stored"))
        }
    }

    func testLongIntegers() throws {
        // LONG1 of -2 (1 byte 0xFE) and of the 10-byte legacy magic number
        guard case let .tuple(t) = try unpickle([0x80, 0x02, 0x8A, 1, 0xFE, 0x8A, 10] + TorchCheckpoint.legacyMagic + [0x86, 0x2E]) else { return XCTFail() }
        XCTAssertEqual(t[0].intValue, -2)
        guard case let .bigInt(m) = t[1] else { return XCTFail() }
        XCTAssertEqual(m, TorchCheckpoint.legacyMagic)
    }
}
