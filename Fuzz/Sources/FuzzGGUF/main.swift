import FuzzSupport
import Tokenizer
import WeightIO

/// GGUF: header, every metadata value type, tensor infos, alignment, every dequantizable tensor's
/// data, and the tokenizer of its metadata (parsed in memory: the reader takes any byte buffer).
func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = inputBytes(data, count)
    bytes.withUnsafeBytes { buf in
        guard let file = try? GGUFFile(bytes: buf, file: "fuzz.gguf") else { return }
        for t in file.tensors where t.count <= 1 << 22 { _ = try? file.floats(t.name) }
        // The tokenizer its metadata describes, when it describes one, and a round trip through it.
        if let tok = try? BPETokenizer(gguf: file) {
            _ = try? tok.decode(tok.encode("Hello, world! 2026 –  42 café 🤖<|endoftext|>"))
        }
        for (k, _) in file.metadata {
            _ = try? file.integer(k); _ = try? file.strings(k); _ = try? file.number(k)
        }
    }
    return 0
}

runFuzzer(fuzzGGUF)
