import WeightIO

/// gzip members (header flags, deflate stream, CRC-32 and size trailer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? gunzip(UnsafeRawBufferPointer(start: data, count: count), file: "fuzz.gz")
    return 0
}
