import FuzzSupport
import RecData

/// Amazon review lines (JSON), and metadata lines (JSON or Python literals) after 00 FF 00.
func fuzzAmazon(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let (reviews, meta) = TemporaryFile.split(inputBytes(data, count))
    let r = TemporaryFile.write(reviews, name: "reviews.json")
    let m = meta.count > 0 ? TemporaryFile.write(meta, name: "meta.json") : nil
    defer { TemporaryFile.clean() }
    guard let raw = try? RawDataset.amazon(reviews: r, metadata: m) else { return 0 }
    _ = try? PreparedDataset(raw, options: PrepareOptions(minRating: nil, kcore: 0, seed: 1))
    return 0
}

runFuzzer(fuzzAmazon)
