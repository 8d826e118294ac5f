import Backbone
import Foundation
import GPT2
import Llama
import Tokenizer
import WeightIO

/// From a model folder's `model_type` to the architecture that runs it: one line per model type
/// (as mlx-swift-examples' `LLMModelFactory`). The method, the tool, the server and the benchmarks
/// reach GPT-2 and the Llama family only through here. Adding a backbone: docs/adding-a-backbone.md.
public enum ArchitectureRegistry {
    /// The architectures this build runs.
    static let builtIn: [Architecture] = [
        GPT2Model.registryEntry,
        LlamaModel.registryEntry(modelType: "llama"),
        LlamaModel.registryEntry(modelType: "qwen2"),
    ]

    nonisolated(unsafe) private static var table: [Architecture] = builtIn
    private static let lock = NSLock()

    /// Every registered architecture, the built-in ones first.
    public static var all: [Architecture] { lock.withLock { table } }
    public static var modelTypes: [String] { all.map(\.modelType) }

    /// Adds (or replaces, by `modelType`) an architecture: how a program or a test brings its own.
    public static func register(_ architecture: Architecture) {
        lock.withLock {
            table.removeAll { $0.modelType == architecture.modelType }
            table.append(architecture)
        }
    }

    public static func named(_ modelType: String) -> Architecture? { all.first { $0.modelType == modelType } }

    /// The architecture of a model folder, from `model_type` in its config.json ("gpt2" when the key
    /// is missing, as GPT-2's oldest configs have none).
    public static func architecture(folder: String) throws -> Architecture {
        let path = (folder as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ArchitectureError.invalidFile(path, "not found: import a model with `cllm4rec import-model` or make one with `cllm4rec init-model`")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ArchitectureError.invalidFile(path, "not a JSON object")
        }
        let type = json["model_type"] as? String ?? "gpt2"
        guard let a = named(type) else {
            throw BackboneError.unknownArchitecture(path: path, found: type, known: modelTypes)
        }
        return a
    }

    /// The backbone and tokenizer of a model folder.
    public static func load(folder: String) throws -> (backbone: any LanguageBackbone, tokenizer: BPETokenizer) {
        try architecture(folder: folder).load(folder)
    }

    /// What `extend-vocab` needs of a model folder, from its config.json alone.
    public static func shape(folder: String) throws -> BackboneShape {
        try architecture(folder: folder).shape((folder as NSString).appendingPathComponent("config.json"))
    }

    /// The architecture with the random-initialisation shape `preset` (`init-model --config`).
    public static func architecture(preset: String) -> Architecture? {
        all.first { $0.initRandom != nil && $0.presets.contains(preset) }
    }
    public static var presets: [String] { all.filter { $0.initRandom != nil }.flatMap(\.presets) }

    /// Every LoRA projection name some architecture knows (`--lora-targets` is checked against
    /// these before any work; the backbone then checks its own).
    public static var adapterTargetNames: [String] {
        var seen = Set<String>()
        return all.flatMap(\.adapterTargetNames).filter { seen.insert($0).inserted }
    }

    /// `import-model PATH`: a GGUF file by its `general.architecture`, another single file by the
    /// architecture reading bare weight files (GPT-2), a folder by its config.json. `tokenizer`: the
    /// tokenizer folder for formats that carry none. Returns the lines to print.
    public static func importModel(path: String, output: String, tokenizer: String, keepQuantized: Bool = false) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ArchitectureError.invalidFile(path, "no such file or folder")
        }
        // (A folder is never read as a file: FileHandle traps on one.)
        let head = isDir.boolValue ? Data() : FileHandle(forReadingAtPath: path)?.readData(ofLength: 4) ?? Data()
        let isGGUF = Array(head) == Array("GGUF".utf8)
        if keepQuantized && !isGGUF {
            throw ArchitectureError.invalidFile(path, "--keep-quantized keeps a GGUF file's quantized tensors: this is not a GGUF file")
        }
        if isDir.boolValue {
            let a = try architecture(folder: path)
            guard let importFolder = a.importFolder else {
                throw ArchitectureError.invalidFile(path, "\(a.modelType) folders cannot be imported")
            }
            return try importFolder(path, output, tokenizer)
        }
        if isGGUF {
            let arch = try GGUFFile(path: path).string("general.architecture")
            guard let a = all.first(where: { $0.ggufArchitectures.contains(arch) }), let importGGUF = a.importGGUF else {
                let known = all.flatMap(\.ggufArchitectures).map { "\"\($0)\"" }.joined(separator: " and ")
                throw ArchitectureError.invalidFile(path, "general.architecture is \"\(arch)\"; this tool reads \(known) GGUF files")
            }
            return try importGGUF(path, output, keepQuantized)
        }
        guard let a = all.first(where: { $0.importsBareWeightFiles }), let importFolder = a.importFolder else {
            throw ArchitectureError.invalidFile(path, "neither a GGUF file nor a model folder")
        }
        return try importFolder(path, output, tokenizer)
    }

    /// `import-gpt2 PATH [--config FILE]`: GPT-2 with a config.json other than the folder's.
    public static func importGPT2(path: String, output: String, tokenizer: String, configPath: String?) throws -> [String] {
        try GPT2Model.importModel(source: path, output: output, tokenizer: tokenizer, configPath: configPath)
    }

    /// `merge-lora`: the adapter folded into the base model's weights, by its architecture.
    public static func mergeAdapter(model: String, adapter: String, output: String) throws -> String {
        let a = try architecture(folder: model)
        guard let merge = a.mergeAdapter else {
            throw ArchitectureError.invalidFile(model, "\(a.modelType) has no adapter merge")
        }
        return try merge(model, adapter, output)
    }
}

/// A model file or folder the registry cannot use: the path and the problem.
public enum ArchitectureError: Error, CustomStringConvertible, Equatable {
    case invalidFile(String, String)

    public var description: String {
        switch self {
        case let .invalidFile(path, problem): return "\(path): \(problem)"
        }
    }
}
