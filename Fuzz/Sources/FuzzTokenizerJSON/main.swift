import FuzzSupport
import Tokenizer

/// tokenizer.json (model, merges in both spellings, added tokens, pre-tokenizer), then a round
/// trip of a fixed text through the tokenizer it makes, and its tokenizer.json written back.
func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = TemporaryFile.write(inputBytes(data, count), name: "tokenizer.json")
    defer { TemporaryFile.clean() }
    guard let tok = try? BPETokenizer.load(tokenizerJSON: path) else { return 0 }
    let ids = tok.encode("Hello, world! It's 2026 –  42 naïve café 東京 🤖<|endoftext|><|im_start|> user_1")
    _ = try? tok.decode(ids)
    _ = tok.tokenizerJSON()
    return 0
}

runFuzzer(fuzzTokenizerJSON)
