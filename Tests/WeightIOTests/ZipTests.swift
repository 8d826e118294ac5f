import Foundation
import XCTest

@testable import WeightIO

let weightIOFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

func expectedJSON() throws -> JSONValue {
    try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: weightIOFixtures + "/expected.json"))))
}

final class ZipTests: XCTestCase {
    func testStoredDeflatedAndEmptyEntries() throws {
        let z = try ZipArchive(path: weightIOFixtures + "/archive.zip")
        XCTAssertEqual(z.entries.map(\.name), ["pkg/a.txt", "pkg/b.bin", "pkg/empty"])
        XCTAssertEqual(String(decoding: try z.data(z.entry(named: "pkg/a.txt")!), as: UTF8.self), "hello zip\n")
        let b = try z.data(z.entry(named: "pkg/b.bin")!)
        let exp = try expectedJSON()["archive"]!
        XCTAssertEqual(z.entry(named: "pkg/b.bin")!.method, 8)
        XCTAssertEqual(.number(String(b.count)), exp["b_len"])
        XCTAssertEqual(b[0..<256].map { Int($0) }, Array(0..<256))
        XCTAssertEqual(.number(String(b.withUnsafeBytes { crc32Of($0) })), exp["b_crc"])
        XCTAssertEqual(try z.data(z.entry(named: "pkg/empty")!), [])
    }

    func testZip64ExtraFieldsAndEndRecords() throws {
        let z = try ZipArchive(path: weightIOFixtures + "/zip64.zip")
        let e = z.entry(named: "big/data.bin")!
        XCTAssertEqual(e.uncompressedSize, 13)
        XCTAssertEqual(String(decoding: try z.data(e), as: UTF8.self), "zip64 payload")
    }

    func testCorruptDeflateDataIsCaught() throws {
        let z = try ZipArchive(path: weightIOFixtures + "/badcrc.zip")
        XCTAssertThrowsError(try z.data(z.entry(named: "pkg/b.bin")!)) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("pkg/b.bin"), s)
            XCTAssertTrue(s.contains("CRC-32") || s.contains("deflate data"), s)
        }
    }

    func testStoredCRCMismatch() throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: weightIOFixtures + "/archive.zip")))
        let k = bytes.indices.first { bytes[$0...].starts(with: Array("hello zip".utf8)) }!
        bytes[k] = UInt8(ascii: "j")
        try bytes.withUnsafeBytes { buf in
            let z = try ZipArchive(bytes: buf, file: "m.zip", owner: nil)
            XCTAssertThrowsError(try z.data(z.entry(named: "pkg/a.txt")!)) { e in
                guard case let .zipCRCMismatch(file, entry, _, _)? = e as? WeightIOError else { return XCTFail("\(e)") }
                XCTAssertEqual(file, "m.zip")
                XCTAssertEqual(entry, "pkg/a.txt")
            }
        }
    }

    func testNotAZip() throws {
        let bytes: [UInt8] = Array("PK\u{3}\u{4} definitely not an archive".utf8)
        try bytes.withUnsafeBytes { buf in
            XCTAssertThrowsError(try ZipArchive(bytes: buf, file: "n.zip", owner: nil)) {
                XCTAssertEqual($0 as? WeightIOError, .zipNoEndOfCentralDirectory(file: "n.zip"))
            }
        }
    }

    func testCentralDirectoryOutsideFile() throws {
        // An end record claiming a 46-byte directory at offset 1000 of a 22-byte file.
        var eocd: [UInt8] = [0x50, 0x4B, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0]
        eocd += withUnsafeBytes(of: UInt32(46).littleEndian, Array.init) + withUnsafeBytes(of: UInt32(1000).littleEndian, Array.init) + [0, 0]
        try eocd.withUnsafeBytes { buf in
            XCTAssertThrowsError(try ZipArchive(bytes: buf, file: "e.zip", owner: nil)) {
                XCTAssertTrue("\($0)".contains("central directory [1000, +46) lies outside the 22-byte file"), "\($0)")
            }
        }
    }
}
