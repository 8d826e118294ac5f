import Backbone
import Foundation
import GPT2
import Llama
import Tokenizer
import WeightIO

/// From a model folder's `model_type` to the backbone that runs it (the registry of mlx-swift-lm):
/// "gpt2" → `GPT2Model`, "llama" and "qwen2" → `LlamaModel`. A model folder holds `config.json`,
/// the weights (`model.safetensors`, or shards with `model.safetensors.index.json`) and the
/// tokenizer (`tokenizer.json`, or GPT-2's `vocab.json` + `merges.txt`).
public enum BackboneRegistry {
    public static let architectures = ["gpt2", "llama", "qwen2"]

    /// `model_type` of the folder's config.json ("gpt2" when the key is missing, as GPT-2's
    /// oldest configs have none).
    public static func architecture(folder: String) throws -> String {
        let path = (folder as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLLM4RecError.invalidFile(path, "not found: import a model with `cllm4rec import-model` or make one with `cllm4rec init-model`")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLLM4RecError.invalidFile(path, "not a JSON object")
        }
        let type = json["model_type"] as? String ?? "gpt2"
        guard architectures.contains(type) else {
            throw BackboneError.unknownArchitecture(path: path, found: type, known: architectures)
        }
        return type
    }

    /// The backbone and tokenizer of a model folder.
    public static func load(folder: String) throws -> (backbone: any LanguageBackbone, tokenizer: BPETokenizer) {
        switch try architecture(folder: folder) {
        case "gpt2":
            let (params, _) = try GPT2Checkpoint.load(path: folder)
            return (GPT2Model(params: params), try BPETokenizer.load(folder: folder))
        default:
            let (params, _) = try LlamaCheckpoint.load(path: folder)
            let tok = try BPETokenizer.load(folder: folder)
            guard tok.count <= params.config.vocabSize else {
                throw CLLM4RecError.invalidFile(folder, "the tokenizer has \(tok.count) tokens, more than the model's vocab_size \(params.config.vocabSize)")
            }
            return (LlamaModel(params: params), tok)
        }
    }
}

/// What `extend-vocab` needs of a model folder, read from its config.json alone.
public struct BackboneShape: Sendable {
    public var architecture: String
    public var width: Int
    public var vocabSize: Int
    public var contextLength: Int

    /// Longest document of the corpora: the context, at most GPT-2's 1,024 (the method's setting,
    /// kept for every backbone so that runs on different backbones see the same texts).
    public var documentLength: Int { min(contextLength, 1024) }

    public init(folder: String) throws {
        architecture = try BackboneRegistry.architecture(folder: folder)
        let path = (folder as NSString).appendingPathComponent("config.json")
        if architecture == "gpt2" {
            let c = try GPT2Config.load(path: path)
            width = c.nEmbd; vocabSize = c.vocabSize; contextLength = c.nPositions
        } else {
            let c = try LlamaConfig.load(path: path)
            width = c.hiddenSize; vocabSize = c.vocabSize; contextLength = c.maxPositionEmbeddings
        }
    }
}
