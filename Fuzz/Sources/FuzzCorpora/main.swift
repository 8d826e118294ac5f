import FuzzSupport
import RecData
import WeightIO

/// The tokenized-corpora cache (corpora.bin): magic, version, counts, offsets. The input is the file
/// without its CRC-32 trailer, which is appended here: otherwise almost every mutant would stop at
/// the checksum and the parser behind it would never be reached.
func fuzzCorpora(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var bytes = Array(inputBytes(data, count))
    let crc = bytes.withUnsafeBytes { crc32Of($0) }
    withUnsafeBytes(of: crc.littleEndian) { bytes += $0 }
    _ = try? Corpora(decoding: bytes, file: "corpora.bin")
    return 0
}

runFuzzer(fuzzCorpora)
