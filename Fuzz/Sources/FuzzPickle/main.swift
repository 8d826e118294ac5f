import WeightIO

/// The restricted unpickler alone, with PyTorch's persistent ids accepted as storage references.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPickle(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)
    var p = RestrictedUnpickler(bytes: bytes, file: "fuzz.pkl") { value, _ in value }
    _ = try? p.load()
    return 0
}
