import Foundation
import XCTest

@testable import WeightIO

/// Builds GGUF images byte by byte for the validation tests.
struct GGUFBytes {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    mutating func u64(_ v: UInt64) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        bytes += Array("GGUF".utf8); u32(version); u64(tensors); u64(kvs)
    }
    mutating func kvU32(_ key: String, _ v: UInt32) { str(key); u32(4); u32(v) }
    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        str(name); u32(UInt32(dims.count)); for d in dims { u64(d) }; u32(type); u64(offset)
    }
    /// Zero padding to the next multiple of `alignment`, then `data`.
    mutating func data(_ data: [UInt8], alignment: Int = 32) {
        while bytes.count % alignment != 0 { u8(0) }
        bytes += data
    }
}

func parseGGUF(_ bytes: [UInt8]) throws -> GGUFFile {
    try bytes.withUnsafeBytes { buf in
        // The parser keeps the pointer: copy into memory that outlives this closure.
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, buf.count), alignment: 64)
        copy.copyMemory(from: buf)
        return try GGUFFile(bytes: UnsafeRawBufferPointer(rebasing: copy[0..<buf.count]), file: "t.gguf")
    }
}

func ggufError(_ bytes: [UInt8]) -> WeightIOError? {
    do { _ = try parseGGUF(bytes); return nil } catch { return error as? WeightIOError }
}

final class GGUFValidationTests: XCTestCase {
    let f = "t.gguf"

    /// One F32 tensor "w" of 2 elements, one metadata key.
    func valid(version: UInt32 = 3) -> [UInt8] {
        var g = GGUFBytes()
        g.header(version: version, tensors: 1, kvs: 1)
        g.kvU32("general.alignment", 32)
        g.tensor("w", dims: [2], type: 0, offset: 0)
        g.data(withUnsafeBytes(of: (Float(1.5), Float(-2)), Array.init))
        return g.bytes
    }

    func testValidFileVersions2And3() throws {
        for v: UInt32 in [2, 3] {
            let g = try parseGGUF(valid(version: v))
            XCTAssertEqual(g.version, v)
            XCTAssertEqual(g.tensors.map(\.name), ["w"])
            XCTAssertEqual(try g.floats("w").values, [1.5, -2])
            XCTAssertEqual(try g.integer("general.alignment"), 32)
        }
    }

    func testBadMagic() {
        var b = valid(); b[0] = 0x50
        XCTAssertEqual(ggufError(b), .ggufBadMagic(file: f, found: [0x50, 0x47, 0x55, 0x46]))
        XCTAssertEqual(ggufError([0x47, 0x47]), .ggufTruncated(file: f, offset: 0, reading: "the magic \"GGUF\""))
    }

    func testUnsupportedVersions() {
        var b = valid(); b[4] = 1
        XCTAssertEqual(ggufError(b), .ggufUnsupportedVersion(file: f, version: 1, bigEndian: false))
        b[4] = 0; b[7] = 3
        XCTAssertEqual(ggufError(b), .ggufUnsupportedVersion(file: f, version: 3 << 24, bigEndian: true))
    }

    func testTruncatedEverywhere() {
        // Every prefix that cuts the header, the metadata or the tensor infos is a truncation error
        // naming the byte where the file ends; cuts inside the data are out-of-bounds tensors.
        let b = valid()
        let dataStart = 96
        for n in 4..<b.count {
            guard let e = ggufError(Array(b[0..<n])) else { return XCTFail("prefix of \(n) bytes accepted") }
            switch e {
            case let .ggufTruncated(_, offset, _): XCTAssertLessThanOrEqual(offset, n)
            case .ggufTensorOutOfBounds: XCTAssertGreaterThanOrEqual(n, dataStart)
            case .ggufCountTooLarge: break
            default: XCTFail("prefix of \(n) bytes: \(e)")
            }
        }
    }

    func testCountsTheFileCannotHold() {
        var g = GGUFBytes(); g.header(tensors: 1 << 40, kvs: 0)
        XCTAssertEqual(ggufError(g.bytes), .ggufCountTooLarge(file: f, offset: 8, what: "the tensor count", count: 1 << 40, remaining: 8))
        var s = GGUFBytes(); s.header(tensors: 0, kvs: 1); s.u64(1 << 50); s.u32(0)
        XCTAssertEqual(ggufError(s.bytes), .ggufCountTooLarge(file: f, offset: 24, what: "the length of a metadata key", count: 1 << 50, remaining: 4))
        var a = GGUFBytes(); a.header(tensors: 0, kvs: 1); a.str("k"); a.u32(9); a.u32(4); a.u64(1_000_000)
        XCTAssertEqual(ggufError(a.bytes), .ggufCountTooLarge(file: f, offset: 41, what: "the item count of \"k\"", count: 1_000_000, remaining: 0))
    }

    func testInvalidUTF8() {
        var g = GGUFBytes(); g.header(tensors: 0, kvs: 1); g.u64(2); g.bytes += [0xC3, 0x28]; g.u32(4); g.u32(0)
        XCTAssertEqual(ggufError(g.bytes), .ggufInvalidUTF8(file: f, offset: 24, what: "a metadata key"))
    }

    func testUnknownValueTypes() {
        var g = GGUFBytes(); g.header(tensors: 0, kvs: 1); g.str("k"); g.u32(13); g.u32(0)
        XCTAssertEqual(ggufError(g.bytes), .ggufUnknownValueType(file: f, key: "k", offset: 33, type: 13))
        var a = GGUFBytes(); a.header(tensors: 0, kvs: 1); a.str("k"); a.u32(9); a.u32(77); a.u64(0)
        XCTAssertEqual(ggufError(a.bytes), .ggufUnknownValueType(file: f, key: "k", offset: 37, type: 77))
    }

    func testInvalidValues() {
        var g = GGUFBytes(); g.header(tensors: 0, kvs: 1); g.str("k"); g.u32(7); g.u8(2)
        XCTAssertEqual(ggufError(g.bytes), .ggufInvalidValue(file: f, key: "k", offset: 37, problem: "BOOL byte is 2, not 0 or 1"))
        // Arrays of arrays, five deep.
        var d = GGUFBytes(); d.header(tensors: 0, kvs: 1); d.str("k"); d.u32(9)
        for _ in 0..<5 { d.u32(9); d.u64(1) }
        d.u32(0); d.u64(0)
        guard case .ggufInvalidValue(_, "k", _, "arrays nested deeper than 4") = ggufError(d.bytes) else {
            return XCTFail("\(String(describing: ggufError(d.bytes)))")
        }
    }

    func testDuplicateKey() {
        var g = GGUFBytes(); g.header(tensors: 0, kvs: 2); g.kvU32("a", 1); g.kvU32("a", 2)
        XCTAssertEqual(ggufError(g.bytes), .ggufDuplicateKey(file: f, key: "a", offset: 41))
    }

    func testInvalidAlignment() {
        for bad: UInt32 in [0, 3, 48] {
            var g = GGUFBytes(); g.header(tensors: 0, kvs: 1); g.kvU32("general.alignment", bad)
            XCTAssertEqual(ggufError(g.bytes), .ggufInvalidAlignment(file: f, value: "uint32(\(bad))"))
        }
        var s = GGUFBytes(); s.header(tensors: 0, kvs: 1); s.str("general.alignment"); s.u32(8); s.str("32")
        XCTAssertEqual(ggufError(s.bytes), .ggufInvalidAlignment(file: f, value: "string(\"32\")"))
    }

    func testAlignmentIsHonoured() throws {
        var g = GGUFBytes(); g.header(tensors: 2, kvs: 1); g.kvU32("general.alignment", 64)
        g.tensor("a", dims: [1], type: 0, offset: 0); g.tensor("b", dims: [1], type: 0, offset: 64)
        var data = [UInt8](repeating: 0, count: 68)
        data.replaceSubrange(0..<4, with: withUnsafeBytes(of: Float(3), Array.init))
        data.replaceSubrange(64..<68, with: withUnsafeBytes(of: Float(4), Array.init))
        g.data(data, alignment: 64)
        let file = try parseGGUF(g.bytes)
        XCTAssertEqual(file.dataStart % 64, 0)
        XCTAssertEqual(try file.floats("b").values, [4])
        var m = GGUFBytes(); m.header(tensors: 1, kvs: 1); m.kvU32("general.alignment", 64)
        m.tensor("a", dims: [1], type: 0, offset: 32); m.data([UInt8](repeating: 0, count: 64), alignment: 64)
        XCTAssertEqual(ggufError(m.bytes), .ggufMisalignedTensor(file: f, tensor: "a", offset: 32, alignment: 64))
    }

    func testDuplicateTensor() {
        var g = GGUFBytes(); g.header(tensors: 2, kvs: 0)
        g.tensor("w", dims: [1], type: 0, offset: 0); g.tensor("w", dims: [1], type: 0, offset: 32)
        g.data([UInt8](repeating: 0, count: 36))
        XCTAssertEqual(ggufError(g.bytes), .ggufDuplicateTensor(file: f, tensor: "w", offset: 57))
    }

    func testInvalidTensorInfo() {
        func info(_ dims: [UInt64], type: UInt32 = 0) -> WeightIOError? {
            var g = GGUFBytes(); g.header(tensors: 1, kvs: 0); g.tensor("w", dims: dims, type: type, offset: 0)
            g.data([UInt8](repeating: 0, count: 4096))
            return ggufError(g.bytes)
        }
        XCTAssertEqual(info([]), .ggufInvalidTensorInfo(file: f, tensor: "w", offset: 24, problem: "0 dimensions (1 to 4 allowed)"))
        XCTAssertEqual(info([1, 1, 1, 1, 1]), .ggufInvalidTensorInfo(file: f, tensor: "w", offset: 24, problem: "5 dimensions (1 to 4 allowed)"))
        XCTAssertEqual(info([4, 0]), .ggufInvalidTensorInfo(file: f, tensor: "w", offset: 24, problem: "dimension 1 is 0 (1 to 2147483647 allowed)"))
        XCTAssertEqual(info([1 << 31]), .ggufInvalidTensorInfo(file: f, tensor: "w", offset: 24, problem: "dimension 0 is 2147483648 (1 to 2147483647 allowed)"))
        XCTAssertEqual(info([1 << 30, 1 << 30, 1 << 30]), .ggufInvalidTensorInfo(file: f, tensor: "w", offset: 24, problem: "element count overflows"))
        XCTAssertEqual(info([48, 2], type: 8), .ggufInvalidTensorInfo(file: f, tensor: "w", offset: 24, problem: "row length 48 is not a multiple of Q8_0's block of 32"))
        XCTAssertEqual(info([4], type: 5), .ggufUnknownTensorType(file: f, tensor: "w", type: 5, offset: 45))
    }

    func testTensorOutOfBoundsAndOverlap() {
        var g = GGUFBytes(); g.header(tensors: 1, kvs: 0); g.tensor("w", dims: [32], type: 8, offset: 0)
        g.data([UInt8](repeating: 0, count: 33))
        XCTAssertEqual(ggufError(g.bytes), .ggufTensorOutOfBounds(file: f, tensor: "w", offset: 0, bytes: 34, dataSize: 33))
        var h = GGUFBytes(); h.header(tensors: 1, kvs: 0); h.tensor("w", dims: [1], type: 0, offset: UInt64.max - 31)
        h.data([0, 0, 0, 0])
        XCTAssertEqual(ggufError(h.bytes), .ggufTensorOutOfBounds(file: f, tensor: "w", offset: UInt64.max - 31, bytes: 4, dataSize: 4))
        var o = GGUFBytes(); o.header(tensors: 2, kvs: 0)
        o.tensor("a", dims: [16], type: 0, offset: 0); o.tensor("b", dims: [1], type: 0, offset: 32)
        o.data([UInt8](repeating: 0, count: 64))
        XCTAssertEqual(ggufError(o.bytes), .ggufOverlappingTensors(file: f, first: "a", second: "b"))
    }

    func testUnsupportedTypeIsRefusedOnRead() throws {
        var g = GGUFBytes(); g.header(tensors: 1, kvs: 0); g.tensor("w", dims: [256], type: 10, offset: 0)
        g.data([UInt8](repeating: 0, count: 84))
        let file = try parseGGUF(g.bytes)
        XCTAssertThrowsError(try file.floats("w")) {
            guard case .ggufUnsupportedTensorType(_, "w", "Q2_K", _) = $0 as? WeightIOError else { return XCTFail("\($0)") }
        }
    }

    func testTypedMetadataGetters() throws {
        var g = GGUFBytes(); g.header(tensors: 0, kvs: 2); g.kvU32("n", 7); g.str("s"); g.u32(8); g.str("x")
        let file = try parseGGUF(g.bytes)
        XCTAssertEqual(try file.integer("n"), 7)
        XCTAssertEqual(try file.string("s"), "x")
        XCTAssertThrowsError(try file.integer("missing")) { XCTAssertEqual($0 as? WeightIOError, .ggufMissingKey(file: f, key: "missing")) }
        XCTAssertThrowsError(try file.string("n")) {
            XCTAssertEqual($0 as? WeightIOError, .ggufWrongValueType(file: f, key: "n", expected: "STRING", found: "UINT32"))
        }
        XCTAssertThrowsError(try file.strings("s")) {
            XCTAssertEqual($0 as? WeightIOError, .ggufWrongValueType(file: f, key: "s", expected: "ARRAY of STRING", found: "STRING"))
        }
    }
}

/// The fixture written by gguf-py (Tools/fixtures/gguf.py): every metadata type, and every
/// dequantizable tensor type, bit-identical to `gguf.quants.dequantize`.
final class GGUFFixtureTests: XCTestCase {
    func testMetadataOfEveryType() throws {
        let g = try GGUFFile(path: weightIOFixtures + "/quants.gguf")
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(try g.string("general.architecture"), "fixture")
        XCTAssertEqual(g["test.uint8"], .uint8(200))
        XCTAssertEqual(g["test.int8"], .int8(-100))
        XCTAssertEqual(g["test.uint16"], .uint16(60000))
        XCTAssertEqual(g["test.int16"], .int16(-30000))
        XCTAssertEqual(g["test.uint32"], .uint32(4_000_000_000))
        XCTAssertEqual(g["test.int32"], .int32(-2_000_000_000))
        XCTAssertEqual(g["test.float32"], .float32(0.15625))
        XCTAssertEqual(g["test.bool"], .bool(true))
        XCTAssertEqual(g["test.string"], .string("héllo ✓"))
        XCTAssertEqual(g["test.uint64"], .uint64(18_000_000_000_000_000_000))
        XCTAssertEqual(g["test.int64"], .int64(-9_000_000_000_000_000_000))
        XCTAssertEqual(g["test.float64"], .float64(1e-300))
        XCTAssertEqual(try g.strings("test.strings"), ["a", "Ġb", ""])
        XCTAssertEqual(g["test.nested"], .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
    }

    func testDequantizationIsBitIdenticalToGGUFPy() throws {
        let g = try GGUFFile(path: weightIOFixtures + "/quants.gguf")
        let expected = try SafeTensorsSource(path: weightIOFixtures + "/quants-expected.safetensors")
        let types: [GGMLType] = [.F32, .F16, .BF16, .Q8_0, .Q4_0, .Q4_1, .Q5_0, .Q5_1, .Q4_K, .Q5_K, .Q6_K]
        XCTAssertEqual(Set(g.tensors.map(\.type)), Set(types))
        XCTAssertEqual(Set(types), Set(GGMLType.dequantizable))
        for t in g.tensors {
            let want = try expected.floats(t.name)
            let got = try g.floats(t.name)
            XCTAssertEqual(got.shape, want.shape, t.name)
            XCTAssertEqual(got.values.map(\.bitPattern), want.values.map(\.bitPattern), "\(t.name) differs from gguf-py")
        }
    }
}
