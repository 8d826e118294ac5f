import Foundation
import Tokenizer

/// One model type, as the registry (target `Architectures`) lists it: everything the method, the
/// command-line tool and the benchmarks need that depends on the architecture. A new architecture is
/// a config, a `LanguageBackbone` and one of these (docs/adding-a-backbone.md); nothing outside its
/// module and the registry's table names its types.
public struct Architecture: Sendable {
    /// `model_type` as Hugging Face writes it in config.json ("gpt2", "llama", "qwen2").
    public var modelType: String
    /// What a model folder's config.json says of the shapes `extend-vocab` needs.
    public var shape: @Sendable (_ configPath: String) throws -> BackboneShape
    /// The backbone and tokenizer of a model folder.
    public var load: @Sendable (_ folder: String) throws -> (backbone: any LanguageBackbone, tokenizer: BPETokenizer)
    /// LoRA projections as `--lora-targets` may spell them (the backbone checks them when it makes
    /// an adapter; the tool refuses a name no architecture knows before any work).
    public var adapterTargetNames: [String]
    /// Shapes `init-model --config` knows, and the writer of such a random model folder
    /// (preset, seed, tokenizer source, output) → one line saying what was written.
    public var presets: [String]
    public var initRandom: (@Sendable (_ preset: String, _ seed: UInt64, _ tokenizer: String, _ output: String) throws -> String)?
    /// `import-model` of a Hugging Face folder (source, output, tokenizer folder for formats without
    /// one) → the lines to print.
    public var importFolder: (@Sendable (_ source: String, _ output: String, _ tokenizer: String) throws -> [String])?
    /// A single weights file that is not GGUF (`pytorch_model.bin`, `model.safetensors`) is read by
    /// the architecture that sets this (GPT-2's published files carry no config).
    public var importsBareWeightFiles: Bool
    /// GGUF `general.architecture` values read by `importGGUF` (path, output, keep the quantized
    /// tensors for decoding) → the lines to print.
    public var ggufArchitectures: [String]
    public var importGGUF: (@Sendable (_ path: String, _ output: String, _ keepQuantized: Bool) throws -> [String])?
    /// `merge-lora`: the adapter folded into the weights (model, adapter, output) → one line.
    public var mergeAdapter: (@Sendable (_ model: String, _ adapter: String, _ output: String) throws -> String)?

    public init(modelType: String,
                shape: @escaping @Sendable (String) throws -> BackboneShape,
                load: @escaping @Sendable (String) throws -> (backbone: any LanguageBackbone, tokenizer: BPETokenizer),
                adapterTargetNames: [String] = [], presets: [String] = [],
                initRandom: (@Sendable (String, UInt64, String, String) throws -> String)? = nil,
                importFolder: (@Sendable (String, String, String) throws -> [String])? = nil,
                importsBareWeightFiles: Bool = false,
                ggufArchitectures: [String] = [], importGGUF: (@Sendable (String, String, Bool) throws -> [String])? = nil,
                mergeAdapter: (@Sendable (String, String, String) throws -> String)? = nil) {
        self.modelType = modelType; self.shape = shape; self.load = load
        self.adapterTargetNames = adapterTargetNames; self.presets = presets; self.initRandom = initRandom
        self.importFolder = importFolder; self.importsBareWeightFiles = importsBareWeightFiles
        self.ggufArchitectures = ggufArchitectures; self.importGGUF = importGGUF; self.mergeAdapter = mergeAdapter
    }
}

/// What `extend-vocab` needs of a model folder, read from its config.json alone.
public struct BackboneShape: Sendable, Equatable {
    public var architecture: String
    public var width: Int
    public var vocabSize: Int
    public var contextLength: Int

    public init(architecture: String, width: Int, vocabSize: Int, contextLength: Int) {
        self.architecture = architecture; self.width = width; self.vocabSize = vocabSize; self.contextLength = contextLength
    }

    /// Longest document of the corpora: the context, at most GPT-2's 1,024 (the method's setting,
    /// kept for every backbone so that runs on different backbones see the same texts).
    public var documentLength: Int { min(contextLength, 1024) }
}

/// "124439808" → "124,439,808", for the summaries architectures print.
public func groupedDigits(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (k, ch) in s.enumerated() {
        if k > 0 && (s.count - k) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return out
}
