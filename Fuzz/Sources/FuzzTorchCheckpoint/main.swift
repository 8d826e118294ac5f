import FuzzSupport
import WeightIO

/// PyTorch checkpoints, zip (>= 1.6) and legacy formats alike, every tensor read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTorchCheckpoint(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = TemporaryFile.write(UnsafeRawBufferPointer(start: data, count: count), name: "pytorch_model.bin")
    defer { TemporaryFile.clean() }
    guard let ckpt = try? TorchCheckpoint(path: path) else { return 0 }
    for h in ckpt.tensorHeaders { _ = try? ckpt.floats(h.name) }
    return 0
}
