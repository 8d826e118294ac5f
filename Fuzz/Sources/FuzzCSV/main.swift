import FuzzSupport
import RecData

/// CSV interactions with quoted fields, then the reference preprocessing.
func fuzzCSV(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = TemporaryFile.write(inputBytes(data, count), name: "fuzz.csv")
    defer { TemporaryFile.clean() }
    guard let raw = try? RawDataset.csv(path: path, columns: CSVColumns(text: "review")) else { return 0 }
    _ = try? PreparedDataset(raw, options: PrepareOptions(minRating: 2, kcore: 2, seed: 1))
    return 0
}

runFuzzer(fuzzCSV)
