import FuzzSupport
import WeightIO

/// PyTorch checkpoints, zip (>= 1.6) and legacy formats alike, every tensor read.
func fuzzTorchCheckpoint(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = TemporaryFile.write(inputBytes(data, count), name: "pytorch_model.bin")
    defer { TemporaryFile.clean() }
    guard let ckpt = try? TorchCheckpoint(path: path) else { return 0 }
    for h in ckpt.tensorHeaders { _ = try? ckpt.floats(h.name) }
    return 0
}

runFuzzer(fuzzTorchCheckpoint)
