import FuzzSupport
import RecData

/// RecBole atomic files: NAME.inter, and NAME.item after 00 FF 00; then the reference preprocessing.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecBole(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let (inter, item) = TemporaryFile.split(UnsafeRawBufferPointer(start: data, count: count))
    let path = TemporaryFile.write(inter, name: "fuzz.inter")
    if item.count > 0 { _ = TemporaryFile.write(item, name: "fuzz.item") }
    defer { TemporaryFile.clean() }
    guard let raw = try? RawDataset.recBole(path: path) else { return 0 }
    _ = try? PreparedDataset(raw, options: PrepareOptions(minRating: 3, kcore: 2, seed: 1))
    return 0
}
