import FuzzSupport
import RecData

/// CSV interactions with quoted fields, then the reference preprocessing.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = TemporaryFile.write(UnsafeRawBufferPointer(start: data, count: count), name: "fuzz.csv")
    defer { TemporaryFile.clean() }
    guard let raw = try? RawDataset.csv(path: path, columns: CSVColumns(text: "review")) else { return 0 }
    _ = try? PreparedDataset(raw, options: PrepareOptions(minRating: 2, kcore: 2, seed: 1))
    return 0
}
