import Foundation
import XCTest

@testable import WeightIO

final class TorchCheckpointTests: XCTestCase {
    func checkAllTensors(_ file: String, format: String) throws {
        let source = try openWeights(path: weightIOFixtures + "/" + file)
        XCTAssertEqual(source.formatName, format)
        guard case let .object(expected)? = try expectedJSON()["tensors"] else { return XCTFail() }
        XCTAssertEqual(Set(source.tensorHeaders.map(\.name)), Set(expected.map(\.0)))
        for (name, e) in expected {
            let t = try source.floats(name)
            guard case let .array(shape)? = e["shape"], case let .array(values)? = e["values"] else { return XCTFail() }
            XCTAssertEqual(t.shape.map { JSONValue.number(String($0)) }, shape, name)
            let want = values.map { v -> Float in
                if case let .number(s) = v { return Float(Double(s)!) }
                if case let .bool(b) = v { return b ? 1 : 0 }
                return .nan
            }
            XCTAssertEqual(t.values, want, "\(file): \(name)")
        }
        let headers = Dictionary(uniqueKeysWithValues: source.tensorHeaders.map { ($0.name, $0.dtype) })
        XCTAssertEqual(headers["f16"], .F16)
        XCTAssertEqual(headers["bf16"], .BF16)
        XCTAssertEqual(headers["i64"], .I64)
        XCTAssertEqual(headers["bool"], .BOOL)
        if let ckpt = source as? TorchCheckpoint {
            XCTAssertEqual(ckpt.storageLocation("f32")?.key, ckpt.storageLocation("f32_row1")?.key)
            XCTAssertEqual(ckpt.storageLocation("f32_row1")?.offset, 4)
        }
    }

    func testZipCheckpointAllDTypesAndSharedStorage() throws { try checkAllTensors("dtypes_zip.pt", format: "pytorch-zip") }
    func testLegacyCheckpointAllDTypesAndSharedStorage() throws { try checkAllTensors("dtypes_legacy.pt", format: "pytorch-legacy") }

    func testNonContiguousTensorIsRefused() {
        XCTAssertThrowsError(try openWeights(path: weightIOFixtures + "/noncontiguous.pt")) {
            XCTAssertTrue("\($0)".contains("tensor \"t\": is not contiguous (shape [4, 3], stride [1, 4])"), "\($0)")
        }
    }

    func testTruncatedLegacyFileIsRefused() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: weightIOFixtures + "/dtypes_legacy.pt")))
        let p = tempPath("trunc.pt")
        defer { try? FileManager.default.removeItem(atPath: p) }
        FileManager.default.createFile(atPath: p, contents: Data(bytes.dropLast(3)))
        XCTAssertThrowsError(try openWeights(path: p)) {
            XCTAssertTrue("\($0)".hasPrefix(p + ": pickle ends unexpectedly"), "\($0)")
        }
    }
}
