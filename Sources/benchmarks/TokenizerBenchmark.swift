import Foundation
import Tokenizer

/// Encode throughput on one text: the first run starts with an empty word cache (cold), later
/// runs reuse it (warm), as a long-lived tokenizer does.
func benchmarkTokenizer(path: String, modelDir: String, runs: Int) throws {
    guard let data = FileManager.default.contents(atPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
    let text = String(decoding: data, as: UTF8.self)
    let mb = Double(data.count) / 1e6
    let tok = try BPETokenizer(vocabPath: modelDir + "/vocab.json", mergesPath: modelDir + "/merges.txt")
    var times: [Double] = []
    var count = 0
    for _ in 0..<runs {
        let t0 = DispatchTime.now().uptimeNanoseconds
        count = tok.encode(text).count
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    // Decode timed on its own: subtracting an earlier encode's time from an encode + decode went
    // negative when that encode was the cold one (--runs 1), and printed an absurd rate.
    let ids = tok.encode(text)
    let t1 = DispatchTime.now().uptimeNanoseconds
    let decoded = try tok.decode(ids)
    let decodeTime = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
    precondition(decoded == text, "decode(encode(text)) must give the text back")
    print(String(format: "swift  encode: %.2f MB in %d tokens; cold %.2f MB/s, warm %.2f MB/s (best of %d); decode %.1f MB/s",
                 mb, count, mb / times[0], mb / times.min()!, runs, mb / max(decodeTime, 1e-9)))
}
