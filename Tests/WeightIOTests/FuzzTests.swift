import Foundation
import XCTest

@testable import WeightIO

/// A deterministic generator for mutations (xorshift64*).
struct MutationRNG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

/// One random corruption of a file image: bit flips, boundary values written over length fields,
/// truncation, insertion, duplication of a chunk.
func mutate(_ input: [UInt8], _ r: inout MutationRNG) -> [UInt8] {
    var b = input
    for _ in 0..<(1 + r.below(3)) {
        guard !b.isEmpty else { return b }
        let at = r.below(b.count)
        switch r.below(7) {
        case 0: b[at] ^= UInt8(1 << r.below(8))
        case 1: b[at] = [0x00, 0xFF, 0x7F, 0x80, UInt8(truncatingIfNeeded: r.next())][r.below(5)]
        case 2:
            let v: UInt64 = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, UInt64(r.below(1 << 20))][r.below(7)]
            for k in 0..<min(r.below(2) == 0 ? 4 : 8, b.count - at) { b[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
        case 3: b.removeSubrange(at...)
        case 4: b.insert(contentsOf: (0..<(1 + r.below(16))).map { _ in UInt8(truncatingIfNeeded: r.next()) }, at: at)
        case 5:
            let len = min(1 + r.below(64), b.count - at)
            b.insert(contentsOf: b[at..<(at + len)], at: r.below(b.count))
        default: b.removeSubrange(at..<min(b.count, at + 1 + r.below(8)))
        }
    }
    return b
}

/// Opens a (possibly corrupt) weights image and reads every tensor. Returns true when it loaded,
/// false for a typed rejection; anything else (another error type, a crash) fails the test.
/// Plain zip archives are read entry by entry instead.
func loadAll(_ bytes: [UInt8], path: String, asZip: Bool) throws -> Bool {
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    do {
        if asZip {
            let zip = try ZipArchive(path: path)
            for e in zip.entries { _ = try zip.data(e) }
            return true
        }
        let source = try openWeights(path: path)
        for h in source.tensorHeaders where h.dtype.isConvertibleToFloat { _ = try source.floats(h.name) }
        return true
    } catch is WeightIOError {
        return false
    }
}

final class FuzzTests: XCTestCase {
    /// Mutants per seed file; CLLM4REC_FUZZ_ITERATIONS raises it for long runs.
    let iterations = Int(ProcessInfo.processInfo.environment["CLLM4REC_FUZZ_ITERATIONS"] ?? "") ?? 2000

    func seeds() throws -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for f in ["archive.zip", "zip64.zip", "dtypes_zip.pt", "dtypes_legacy.pt", "noncontiguous.pt"] {
            out.append((f, Array(try Data(contentsOf: URL(fileURLWithPath: weightIOFixtures + "/" + f)))))
        }
        out.append(("small.safetensors", safetensorsBytes(
            #"{"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},"f":{"dtype":"F32","shape":[2,1],"data_offsets":[10,18]}}"#,
            data: [0x00, 0x3C, 0x00, 0xC0, 0x55, 0x35, 0x80, 0x3F, 0xA0, 0xC0, 0, 0, 128, 63, 0, 0, 0, 64])))
        return out
    }

    func testMutatedFilesEndInATypedErrorOrAValidLoad() throws {
        let path = tempPath("fuzz.bin")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rng = MutationRNG(state: 0x5EED_CAFE_F00D_0001)
        for (name, seed) in try seeds() {
            let asZip = name.hasSuffix(".zip")
            let valid = name != "noncontiguous.pt"  // refused by design: mutants explore the refusal paths
            XCTAssertEqual(try loadAll(seed, path: path, asZip: asZip), valid, "\(name) unmutated")
            var loaded = 0, rejected = 0
            for _ in 0..<iterations {
                if try loadAll(mutate(seed, &rng), path: path, asZip: asZip) { loaded += 1 } else { rejected += 1 }
            }
            // Both outcomes must occur, or the mutations are not reaching the parser.
            XCTAssertGreaterThan(rejected, iterations / 10, name)
            if valid { XCTAssertGreaterThan(loaded, 0, name) }
            print("fuzz \(name): \(iterations) mutants, \(loaded) loaded, \(rejected) refused with a typed error")
        }
    }

    func testHostileNestingIsRefused() throws {
        // 100,000 nested TUPLE1s, and a list appended to itself: refused or bounded, never a crash.
        let deep: [UInt8] = [0x80, 0x02, 0x4E] + Array(repeating: 0x85, count: 100_000) + [0x2E]
        XCTAssertThrowsError(try unpickle(deep)) { XCTAssertTrue("\($0)".contains("nested deeper than 100"), "\($0)") }
        let cyclic: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x29, 0x52, 0x2E]  // l = []; l.append(l); REDUCE
        // Refused at the APPEND that would make the cycle (containers are sealed once placed).
        XCTAssertThrowsError(try unpickle(cyclic)) { XCTAssertTrue("\($0)".contains("APPEND to a list already placed in another value"), "\($0)") }
    }
}

/// Random corruptions of the gguf-py fixture: every mutant is a typed rejection or a valid load
/// whose every dequantizable tensor reads (the long runs are `Tools/fuzz.sh FuzzGGUF`).
final class GGUFMutationTests: XCTestCase {
    func testMutatedGGUFEndsInATypedErrorOrAValidLoad() throws {
        let seed = Array(try Data(contentsOf: URL(fileURLWithPath: weightIOFixtures + "/quants.gguf")))
        let iterations = Int(ProcessInfo.processInfo.environment["CLLM4REC_FUZZ_ITERATIONS"] ?? "") ?? 2000
        var rng = MutationRNG(state: 0x5EED_6600_F00D_0002)
        var loaded = 0, refused = 0
        for _ in 0..<iterations {
            let bytes = mutate(seed, &rng)
            do {
                let file = try bytes.withUnsafeBytes { try GGUFFile(bytes: $0, file: "mutant.gguf") }
                for t in file.tensors where t.type.isDequantizable && t.count <= 1 << 20 {
                    _ = try bytes.withUnsafeBytes { buf in
                        try GGUFFile(bytes: buf, file: "mutant.gguf").floats(t.name)
                    }
                }
                loaded += 1
            } catch is WeightIOError {
                refused += 1
            }
        }
        XCTAssertEqual(loaded + refused, iterations)
        XCTAssertGreaterThan(loaded, 0, "some mutants (in tensor data) still load")
        XCTAssertGreaterThan(refused, 0)
    }
}
