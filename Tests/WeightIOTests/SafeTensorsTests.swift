import Foundation
import XCTest

@testable import WeightIO

/// A safetensors image: 8-byte little-endian length, the header text, then `data`.
func safetensorsBytes(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    return withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian, Array.init) + h + data
}

func validate(_ bytes: [UInt8]) throws -> [SafeTensorInfo] {
    try bytes.withUnsafeBytes { try SafeTensorsFile.validate($0, file: "t.safetensors").tensors }
}

/// The error `validate` throws, or nil.
func validationError(_ bytes: [UInt8]) -> WeightIOError? {
    do { _ = try validate(bytes); return nil } catch { return error as? WeightIOError }
}

func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("cllm4rec-\(UUID())-\(name)").path
}

final class SafeTensorsValidationTests: XCTestCase {
    let f = "t.safetensors"

    func testValidFileWithMetadataAndPadding() throws {
        let bytes = safetensorsBytes(#"{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}}   "#,
                                     data: [0, 0, 128, 63, 0, 0, 0, 64])
        let t = try validate(bytes)
        XCTAssertEqual(t.map(\.name), ["b", "a"])
        XCTAssertEqual(t[0].shape, [2])
        XCTAssertEqual(t[0].dataOffsets, 0..<8)
    }

    func testHeaderTooSmall() {
        XCTAssertEqual(validationError([1, 0, 0, 0, 0, 0, 0]), .headerTooSmall(file: f, size: 7))
    }

    func testHeaderTooLarge() {
        XCTAssertEqual(validationError(safetensorsBytes("{}", length: 100_000_001)), .headerTooLarge(file: f, length: 100_000_001))
    }

    func testHeaderLengthPastEnd() {
        XCTAssertEqual(validationError(safetensorsBytes("{}", length: 50)), .invalidHeaderLength(file: f, length: 50, fileSize: 10))
    }

    func testHeaderNotUTF8() {
        var b = safetensorsBytes(#"{"a":1}"#)
        b[10] = 0xFF
        XCTAssertEqual(validationError(b), .invalidHeaderUTF8(file: f, offset: 10))
    }

    func testHeaderMustStartWithBrace() {
        XCTAssertEqual(validationError(safetensorsBytes("[]")), .invalidHeaderStart(file: f, found: UInt8(ascii: "[")))
    }

    func testHeaderInvalidJSON() {
        guard case let .invalidHeaderJSON(_, offset, _)? = validationError(safetensorsBytes(#"{"a":}"#)) else { return XCTFail() }
        XCTAssertEqual(offset, 13)
    }

    func testDuplicateKey() {
        let h = #"{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#
        XCTAssertEqual(validationError(safetensorsBytes(h)), .duplicateKey(file: f, key: "a", offset: 8 + 53))
    }

    func testMetadataMustBeStrings() {
        XCTAssertEqual(validationError(safetensorsBytes(#"{"__metadata__":{"k":1}}"#)),
                       .invalidMetadata(file: f, problem: "value of \"k\" must be a string"))
    }

    func testUnknownDType() {
        XCTAssertEqual(validationError(safetensorsBytes(#"{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}}"#, data: [0])),
                       .unknownDType(file: f, tensor: "a", dtype: "F7"))
    }

    func testNegativeShapeIsInvalidInfo() {
        XCTAssertEqual(validationError(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#, data: [0])),
                       .invalidTensorInfo(file: f, tensor: "a", problem: "shape entries must be a non-negative integer"))
    }

    func testShapeDoesNotMatchBytes() {
        XCTAssertEqual(validationError(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#, data: Array(repeating: 0, count: 12))),
                       .tensorSizeMismatch(file: f, tensor: "a", shape: [2, 2], dtype: "F32", byteCount: 12))
    }

    func testGapBeforeFirstTensor() {
        XCTAssertEqual(validationError(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#, data: Array(repeating: 0, count: 8))),
                       .invalidOffset(file: f, tensor: "a", expectedStart: 0, found: 4))
    }

    func testOverlappingTensors() {
        let h = #"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}"#
        XCTAssertEqual(validationError(safetensorsBytes(h, data: Array(repeating: 0, count: 12))),
                       .invalidOffset(file: f, tensor: "b", expectedStart: 8, found: 4))
    }

    func testEndBeforeStart() {
        XCTAssertEqual(validationError(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#)),
                       .invalidTensorInfo(file: f, tensor: "a", problem: "data_offsets [4, 0] end before they start"))
    }

    func testShapeOverflow() {
        let h = #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#
        XCTAssertEqual(validationError(safetensorsBytes(h)), .validationOverflow(file: f, tensor: "a"))
    }

    func testByteCountOverflow() {
        let h = #"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}"#
        XCTAssertEqual(validationError(safetensorsBytes(h)), .validationOverflow(file: f, tensor: "a"))
    }

    func testTrailingBytes() {
        XCTAssertEqual(validationError(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#, data: [1, 2, 3])),
                       .metadataIncompleteBuffer(file: f, dataEnd: 2, bufferSize: 3))
    }

    func testTruncatedData() {
        XCTAssertEqual(validationError(safetensorsBytes(#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#, data: [1, 2])),
                       .metadataIncompleteBuffer(file: f, dataEnd: 4, bufferSize: 2))
    }

    func testErrorMessagesNameFileAndPosition() {
        let e = validationError(safetensorsBytes(#"{"a":}"#))!
        XCTAssertEqual("\(e)", "t.safetensors: header JSON invalid at byte 13 of the file: unexpected character '}'")
    }
}

final class SafeTensorsReadWriteTests: XCTestCase {
    func write(_ bytes: [UInt8]) -> String {
        let p = tempPath("x.safetensors")
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
        return p
    }

    func testHalfAndBFloatConvert() throws {
        // F16 0x3C00 = 1, 0xC000 = -2, 0x3555 = 0.333251953125; BF16 0x3F80 = 1, 0xC0A0 = -5
        let h = #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]}}"#
        let p = write(safetensorsBytes(h, data: [0x00, 0x3C, 0x00, 0xC0, 0x55, 0x35, 0x80, 0x3F, 0xA0, 0xC0]))
        let file = try SafeTensorsFile(path: p)
        XCTAssertEqual(try file.floats("h").values, [1, -2, 0.333251953125])
        XCTAssertEqual(try file.floats("b").values, [1, -5])
        XCTAssertThrowsError(try file.floats("zz")) { XCTAssertEqual($0 as? WeightIOError, .tensorNotFound(file: p, tensor: "zz")) }
    }

    func testWriterOutputIsAlignedAndMappedWithoutCopy() throws {
        let p = tempPath("w.safetensors")
        defer { try? FileManager.default.removeItem(atPath: p) }
        try SafeTensorsWriter.write([(name: "z", tensor: FloatTensor(shape: [2, 2], values: [1, 2, 3, 4])),
                                     (name: "a", tensor: FloatTensor(shape: [1], values: [-7.5]))],
                                    metadata: ["k": "v \"q\""], to: p)
        let file = try SafeTensorsFile(path: p)
        XCTAssertEqual(file.tensors.map(\.name), ["a", "z"])
        XCTAssertEqual(file.metadata, ["k": "v \"q\""])
        let raw = try file.rawBytes("z")
        XCTAssertEqual(Int(bitPattern: raw.baseAddress!) % 4, 0)
        try file.withFloats("z") { buf in
            XCTAssertEqual(Array(buf), [1, 2, 3, 4])
            XCTAssertEqual(UnsafeRawPointer(buf.baseAddress!), raw.baseAddress!)  // no copy
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: p + ".tmp-\(getpid())"))
    }

    func testWriterRefusesDuplicateNamesAndLeavesNothing() {
        let p = tempPath("dup.safetensors")
        let t = FloatTensor(shape: [1], values: [1])
        XCTAssertThrowsError(try SafeTensorsWriter.write([(name: "a", tensor: t), (name: "a", tensor: t)], to: p))
        XCTAssertFalse(FileManager.default.fileExists(atPath: p))
    }

    func testWriterIntoMissingFolderFailsCleanly() {
        XCTAssertThrowsError(try SafeTensorsWriter.write([(name: "a", tensor: FloatTensor(shape: [1], values: [1]))], to: "/nonexistent-dir/x.safetensors")) {
            XCTAssertTrue("\($0)".hasPrefix("/nonexistent-dir/x.safetensors: cannot write: "), "\($0)")
        }
    }
}

final class JSONParserTests: XCTestCase {
    func testParsesNestedValuesAndEscapes() throws {
        let v = try JSONParser.parse(Array(#"{"a":[1,-2.5e3,true,null],"s":"\u00e9\ud83d\ude00\n"}"#.utf8))
        XCTAssertEqual(v["a"], .array([.number("1"), .number("-2.5e3"), .bool(true), .null]))
        XCTAssertEqual(v["s"], .string("é😀\n"))
    }

    func testRejectsLoneSurrogateAndLeadingZero() {
        XCTAssertThrowsError(try JSONParser.parse(Array(#"["\ud83d"]"#.utf8)))
        XCTAssertThrowsError(try JSONParser.parse(Array("[01]".utf8)))
        XCTAssertThrowsError(try JSONParser.parse(Array("[1,]".utf8)))
    }

    func testSerializationRoundTrips() throws {
        let v = try JSONParser.parse(Array(#"{"b":"x\"\\\u0001","a":[{}]}"#.utf8))
        XCTAssertEqual(try JSONParser.parse(Array(v.serialized().utf8)), v)
    }
}

final class StagedFolderTests: XCTestCase {
    func testNothingAppearsBeforeCommitAndStagingIsRemoved() throws {
        let dir = tempPath("staged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let f = try StagedFolder(dir)
            try f.write("a.txt", bytes: Array("new".utf8))
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/a.txt"))
            // dropped without commit: as if a later step had thrown
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        let f = try StagedFolder(dir)
        try f.write("a.txt", bytes: Array("new".utf8))
        try f.commit()
        XCTAssertEqual(FileManager.default.contents(atPath: dir + "/a.txt"), Data("new".utf8))
    }
}
