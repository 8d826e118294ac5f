import WeightIO

/// zip: end of central directory, ZIP64 records, local headers, stored and deflated data, CRC-32.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZip(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    guard let zip = try? ZipArchive(bytes: bytes, file: "fuzz.zip", owner: nil) else { return 0 }
    for e in zip.entries { _ = try? zip.data(e) }
    return 0
}
