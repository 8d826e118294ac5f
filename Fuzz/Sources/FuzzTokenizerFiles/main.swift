import FuzzSupport
import Tokenizer

/// vocab.json and merges.txt (the input cut in two at 00 FF 00), then a round trip of a fixed text
/// through the tokenizer they make.
func fuzzTokenizerFiles(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let (vocab, merges) = TemporaryFile.split(inputBytes(data, count))
    let v = TemporaryFile.write(vocab, name: "vocab.json"), m = TemporaryFile.write(merges, name: "merges.txt")
    defer { TemporaryFile.clean() }
    guard let tok = try? BPETokenizer(vocabPath: v, mergesPath: m) else { return 0 }
    let ids = tok.encode("Hello, world! It's 2026 – naïve café 東京 🤖<|endoftext|> user_1")
    _ = try? tok.decode(ids)
    return 0
}

runFuzzer(fuzzTokenizerFiles)
