import FuzzSupport
import WeightIO

/// safetensors: header (JSON, dtypes, shapes, offsets) and every tensor's data.
func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = TemporaryFile.write(inputBytes(data, count), name: "model.safetensors")
    defer { TemporaryFile.clean() }
    guard let file = try? SafeTensorsFile(path: path) else { return 0 }
    for t in file.tensors { _ = try? file.floats(t.name) }
    return 0
}

runFuzzer(fuzzSafeTensors)
