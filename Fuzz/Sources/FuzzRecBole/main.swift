import FuzzSupport
import RecData

/// RecBole atomic files: NAME.inter, and NAME.item after 00 FF 00; then the reference preprocessing.
func fuzzRecBole(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let (inter, item) = TemporaryFile.split(inputBytes(data, count))
    let path = TemporaryFile.write(inter, name: "fuzz.inter")
    if item.count > 0 { _ = TemporaryFile.write(item, name: "fuzz.item") }
    defer { TemporaryFile.clean() }
    guard let raw = try? RawDataset.recBole(path: path) else { return 0 }
    _ = try? PreparedDataset(raw, options: PrepareOptions(minRating: 3, kcore: 2, seed: 1))
    return 0
}

runFuzzer(fuzzRecBole)
