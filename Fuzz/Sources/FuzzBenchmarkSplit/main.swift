import FuzzSupport
import RecData

/// A split read from RecBole benchmark files (`extend-vocab --split-from`): NAME.train.inter, then
/// NAME.valid.inter and NAME.test.inter, the input cut at 00 FF 00.
func fuzzBenchmarkSplit(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let (train, rest) = TemporaryFile.split(inputBytes(data, count))
    let (valid, test) = TemporaryFile.split(rest)
    let path = TemporaryFile.write(train, name: "x.train.inter")
    _ = TemporaryFile.write(valid, name: "x.valid.inter")
    _ = TemporaryFile.write(test, name: "x.test.inter")
    defer { TemporaryFile.clean() }
    let dir = String(path.dropLast("/x.train.inter".count))
    var raw = RawDataset(name: "x", format: "recbole")
    raw.interactions = [RawInteraction(user: "1", item: "10", rating: 4, timestamp: 5)]
    _ = try? PreparedDataset(raw: raw, splitFrom: dir, options: PrepareOptions(seed: 1, heldoutUsers: 1))
    return 0
}

runFuzzer(fuzzBenchmarkSplit)
