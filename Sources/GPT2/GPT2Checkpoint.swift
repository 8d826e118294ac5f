import Backbone
import Foundation
import Tensor
import WeightIO

/// What an import found, for the summary line and for tests.
public struct GPT2ImportReport: Sendable {
    public var weightsPath: String
    public var sourceFormat: String
    /// "config.json" or "inferred from tensor shapes".
    public var configSource: String
    /// Element types found in the file.
    public var sourceDTypes: [String]
    /// Attention-mask buffers that are not weights (`h.N.attn.bias`, `h.N.attn.masked_bias`).
    public var droppedBuffers: [String]
    /// Whether the file carried an `lm_head.weight` (checked equal to `wte`).
    public var hadTiedHead: Bool
}

/// Reading GPT-2 weights from Hugging Face folders or files, and writing clean model folders.
public enum GPT2Checkpoint {
    /// Weights file names looked for in a folder, in order of preference.
    public static let weightFileNames = ["model.safetensors", "pytorch_model.bin"]

    /// Loads a folder (config.json optional + a weights file) or a single weights file. `configPath`
    /// overrides the folder's config.json; without either, the config is inferred from the shapes.
    public static func load(path: String, configPath: String? = nil) throws -> (GPT2Parameters, GPT2ImportReport) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelFileError.io(file: path, problem: "no such file or folder")
        }
        var weightsPath = path
        var configPath = configPath
        if isDir.boolValue {
            let found = weightFileNames.map { (path as NSString).appendingPathComponent($0) }
                .first { FileManager.default.fileExists(atPath: $0) }
            guard let found else {
                if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("model.safetensors.index.json")) {
                    throw ModelFileError.io(file: path, problem: "sharded checkpoints (model.safetensors.index.json) are not supported; GPT-2 ships unsharded")
                }
                throw ModelFileError.io(file: path, problem: "folder has neither model.safetensors nor pytorch_model.bin")
            }
            weightsPath = found
            let c = (path as NSString).appendingPathComponent("config.json")
            if configPath == nil, FileManager.default.fileExists(atPath: c) { configPath = c }
        }
        let source = try openWeights(path: weightsPath)
        let config = try configPath.map { try GPT2Config.load(path: $0) } ?? inferConfig(source)
        let params = GPT2Parameters(config: config)
        var report = try fill(params, from: source)
        report.configSource = configPath.map { ($0 as NSString).lastPathComponent } ?? "inferred from tensor shapes"
        return (params, report)
    }

    /// Canonical name (no `transformer.` prefix) to the file's own tensor.
    private static func canonicalNames(_ source: TensorSource) throws -> [String: TensorHeader] {
        var byName: [String: TensorHeader] = [:]
        for h in source.tensorHeaders {
            let n = GPT2Tensor.unprefixed(h.name)
            if byName[n] != nil { throw GPT2Error.duplicateTensor(file: source.path, tensor: n) }
            byName[n] = h
        }
        return byName
    }

    /// GPT-2 published sizes all use 64-wide heads, which is what makes n_head recoverable.
    static func inferConfig(_ source: TensorSource) throws -> GPT2Config {
        let byName = try canonicalNames(source)
        func shape(_ n: String) throws -> [Int] {
            guard let h = byName[n] else { throw GPT2Error.cannotInferConfig(file: source.path, reason: "no tensor \"\(n)\"") }
            return h.shape
        }
        let wte = try shape("wte.weight"), wpe = try shape("wpe.weight")
        guard wte.count == 2, wpe.count == 2, wte[1] == wpe[1] else {
            throw GPT2Error.cannotInferConfig(file: source.path, reason: "wte \(wte) and wpe \(wpe) disagree")
        }
        let C = wte[1]
        var layers = 0
        while byName["h.\(layers).ln_1.weight"] != nil { layers += 1 }
        guard layers > 0 else { throw GPT2Error.cannotInferConfig(file: source.path, reason: "no h.0.* tensors") }
        guard C % 64 == 0 else { throw GPT2Error.cannotInferConfig(file: source.path, reason: "n_embd \(C) is not a multiple of 64") }
        let fc = try shape("h.0.mlp.c_fc.weight")
        guard fc.count == 2 else { throw GPT2Error.cannotInferConfig(file: source.path, reason: "h.0.mlp.c_fc.weight has shape \(fc)") }
        return GPT2Config(vocabSize: wte[0], nPositions: wpe[0], nEmbd: C, nLayer: layers, nHead: C / 64,
                          nInner: fc[1] == 4 * C ? nil : fc[1])
    }

    /// Copies every tensor of `source` into `params`, failing on any missing, unused or mis-shaped one.
    static func fill(_ params: GPT2Parameters, from source: TensorSource) throws -> GPT2ImportReport {
        let byName = try canonicalNames(source)
        let prefixed = source.tensorHeaders.contains { $0.name.hasPrefix(GPT2Tensor.modelPrefix) }
        var used = Set<String>()
        for (name, shape, dst) in params.namedTensors {
            guard let h = byName[name] else {
                throw WeightIOError.missingTensor(file: source.path, tensor: (prefixed ? GPT2Tensor.modelPrefix : "") + name, expectedShape: shape)
            }
            guard h.shape == shape else {
                throw WeightIOError.tensorShapeMismatch(file: source.path, tensor: h.name, expected: shape, found: h.shape)
            }
            try source.read(h.name, into: dst)
            used.insert(name)
        }
        var dropped: [String] = []
        var hadHead = false
        for h in source.tensorHeaders {
            let n = GPT2Tensor.unprefixed(h.name)
            if used.contains(n) { continue }
            if isAttentionBuffer(n) {
                dropped.append(h.name)
            } else if n == "lm_head.weight" {
                let wte = params.tensor(.wte)
                guard h.shape == [params.config.vocabSize, params.config.nEmbd] else {
                    throw WeightIOError.tensorShapeMismatch(file: source.path, tensor: h.name, expected: [params.config.vocabSize, params.config.nEmbd], found: h.shape)
                }
                let head = try source.floats(h.name)
                guard head.values.elementsEqual(wte) else { throw GPT2Error.untiedHead(file: source.path) }
                hadHead = true
            } else {
                throw WeightIOError.unusedTensor(file: source.path, tensor: h.name, shape: h.shape, model: "GPT-2")
            }
        }
        let dtypes = Set(source.tensorHeaders.map(\.dtype.rawValue)).sorted()
        return GPT2ImportReport(weightsPath: source.path, sourceFormat: source.formatName, configSource: "",
                                sourceDTypes: dtypes, droppedBuffers: dropped, hadTiedHead: hadHead)
    }

    /// `h.N.attn.bias` / `h.N.attn.masked_bias`: causal-mask constants older transformers saved.
    static func isAttentionBuffer(_ n: String) -> Bool {
        let parts = n.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "h" && Int(parts[1]) != nil && parts[2] == "attn"
            && (parts[3] == "bias" || parts[3] == "masked_bias")
    }

    /// Writes `config.json`, `model.safetensors` (F32, `transformer.`-prefixed names, metadata
    /// format=pt so Hugging Face loads it) and the tokenizer files into `dir`. Everything is staged in
    /// a hidden folder inside `dir` and renamed into place only when all of it was written.
    public static func save(_ params: GPT2Parameters, to dir: String, vocabPath: String, mergesPath: String) throws {
        let folder = try StagedFolder(dir)
        let entries = params.namedTensors.map {
            SafeTensorsWriter.Entry(name: GPT2Tensor.modelPrefix + $0.name, shape: $0.shape, values: UnsafeBufferPointer($0.values))
        }
        try SafeTensorsWriter.write(entries, metadata: ["format": "pt"], to: folder.path("model.safetensors"))
        try folder.write("config.json", bytes: Array(params.config.jsonData()) + [0x0A])
        for (src, name) in [(vocabPath, "vocab.json"), (mergesPath, "merges.txt")] {
            // Importing into the folder the tokenizer files come from: they are already in place.
            if (src as NSString).standardizingPath == ((dir as NSString).appendingPathComponent(name) as NSString).standardizingPath { continue }
            guard let data = FileManager.default.contents(atPath: src) else { throw ModelFileError.io(file: src, problem: "cannot read tokenizer file") }
            try folder.write(name, bytes: Array(data))
        }
        try folder.commit()
    }
}
