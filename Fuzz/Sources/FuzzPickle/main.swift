import FuzzSupport
import WeightIO

/// The restricted unpickler alone, with PyTorch's persistent ids accepted as storage references.
func fuzzPickle(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = inputBytes(data, count)
    var p = RestrictedUnpickler(bytes: bytes, file: "fuzz.pkl") { value, _ in value }
    _ = try? p.load()
    return 0
}

runFuzzer(fuzzPickle)
