import FuzzSupport
import WeightIO

/// zip: end of central directory, ZIP64 records, local headers, stored and deflated data, CRC-32.
func fuzzZip(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = inputBytes(data, count)
    guard let zip = try? ZipArchive(bytes: bytes, file: "fuzz.zip", owner: nil) else { return 0 }
    for e in zip.entries { _ = try? zip.data(e) }
    return 0
}

runFuzzer(fuzzZip)
