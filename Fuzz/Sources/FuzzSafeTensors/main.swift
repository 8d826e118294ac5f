import FuzzSupport
import WeightIO

/// safetensors: header (JSON, dtypes, shapes, offsets) and every tensor's data.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = TemporaryFile.write(UnsafeRawBufferPointer(start: data, count: count), name: "model.safetensors")
    defer { TemporaryFile.clean() }
    guard let file = try? SafeTensorsFile(path: path) else { return 0 }
    for t in file.tensors { _ = try? file.floats(t.name) }
    return 0
}
