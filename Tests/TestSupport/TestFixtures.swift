import Backbone
import Foundation
import GPT2
import Llama

/// The fixtures more than one test target reads, by name: each lives in the folder of the target
/// that tests its format (`Tests/<Target>/Fixtures`), and the others reach it through here.
public enum TestFixtures {
    /// The repository's `Tests` folder.
    public static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path

    /// The `Fixtures` folder of a test target.
    public static func folder(of target: String) -> String { tests + "/\(target)/Fixtures" }

    /// The tiny GPT-2 written by Hugging Face's code (Hugging Face folder, vocabulary 1000).
    public static var tinyGPT2: String { folder(of: "GPT2Tests") + "/tiny-gpt2/hf" }

    /// A tiny Llama-family fixture: `llama` (q/k permuted in its GGUF files) or `qwen2` (q/k/v biases);
    /// holds `hf/`, `model-f32.gguf`, `model-q8_0.gguf` and its reference values.
    public static func tinyLlama(_ kind: String) -> String { folder(of: "LlamaTests") + "/tiny-\(kind)" }

    /// A SmolLM2-style tokenizer (`tokenizer.json`) over a small vocabulary.
    public static var smollmTokenizer: String { folder(of: "TokenizerTests") + "/smollm-style" }

    /// The tiny backbones of every family, loaded with F32 weights: (name, model).
    public static func tinyBackbones() throws -> [(String, any LanguageBackbone)] {
        [("gpt2", GPT2Model(params: try GPT2Checkpoint.load(path: tinyGPT2).0)),
         ("llama", LlamaModel(params: try LlamaCheckpoint.load(path: tinyLlama("llama") + "/hf").0)),
         ("qwen2", LlamaModel(params: try LlamaCheckpoint.load(path: tinyLlama("qwen2") + "/hf").0))]
    }
}
