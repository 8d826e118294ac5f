import FuzzSupport
import WeightIO

/// gzip members (header flags, deflate stream, CRC-32 and size trailer).
func fuzzGzip(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = try? gunzip(inputBytes(data, count), file: "fuzz.gz")
    return 0
}

runFuzzer(fuzzGzip)
