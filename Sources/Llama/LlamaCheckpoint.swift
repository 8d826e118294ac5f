import Backbone
import Foundation
import Tensor
import WeightIO

/// What an import found, for the summary line and for tests.
public struct LlamaImportReport: Sendable {
    public var source: String
    /// "gguf", "safetensors" or "safetensors (N shards)".
    public var sourceFormat: String
    /// Tensor storage types found (F32, BF16, Q4_1, ...).
    public var sourceTypes: [String]
    /// Buffers that are not weights and were skipped on purpose (`rotary_emb.inv_freq`).
    public var droppedBuffers: [String]
}

/// Reading Llama-family weights from Hugging Face folders and GGUF files, and writing clean folders.
public enum LlamaCheckpoint {
    /// Loads a Hugging Face folder (config.json + model.safetensors or a sharded
    /// model.safetensors.index.json) or a GGUF file.
    public static func load(path: String) throws -> (LlamaParameters, LlamaImportReport) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ModelFileError.io(file: path, problem: "no such file or folder") }
        if !isDir.boolValue { return try loadGGUF(path: path) }
        let configPath = (path as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else { throw ModelFileError.io(file: path, problem: "folder has no config.json") }
        let config = try LlamaConfig.load(path: configPath)
        let single = (path as NSString).appendingPathComponent("model.safetensors")
        let index = (path as NSString).appendingPathComponent("model.safetensors.index.json")
        var files: [String]
        if FileManager.default.fileExists(atPath: single) {
            files = [single]
        } else if FileManager.default.fileExists(atPath: index) {
            files = try shardFiles(index: index, folder: path)
        } else {
            throw ModelFileError.io(file: path, problem: "folder has neither model.safetensors nor model.safetensors.index.json "
                                + "(PyTorch .bin Llama checkpoints are not supported: convert them to safetensors)")
        }
        let sources = try files.map { try SafeTensorsSource(path: $0) }
        let params = LlamaParameters(config: config)
        var report = try fill(params, from: sources)
        report.source = path
        report.sourceFormat = files.count == 1 ? "safetensors" : "safetensors (\(files.count) shards)"
        return (params, report)
    }

    /// The shard files an index names (each once, in order of first mention), all inside `folder`.
    static func shardFiles(index: String, folder: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: index),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String]
        else { throw ModelFileError.io(file: index, problem: "not a safetensors index (no weight_map object)") }
        var seen = Set<String>(), files: [String] = []
        for name in map.keys.sorted() {
            let f = map[name]!
            // A shard name is a plain file name: nothing outside the model folder is read.
            guard !f.isEmpty, !f.contains("/"), f != ".", f != ".." else {
                throw ModelFileError.io(file: index, problem: "weight_map names \"\(f)\" for \(name): shard names must be plain file names in the folder")
            }
            if seen.insert(f).inserted { files.append((folder as NSString).appendingPathComponent(f)) }
        }
        return files.sorted()
    }

    /// Copies every tensor of the sources into `params`, failing on any missing, duplicated,
    /// unused or mis-shaped one.
    static func fill(_ params: LlamaParameters, from sources: [SafeTensorsSource]) throws -> LlamaImportReport {
        var byName: [String: (SafeTensorsSource, TensorHeader)] = [:]
        for s in sources {
            for h in s.tensorHeaders {
                if let other = byName[h.name] {
                    throw LlamaError.unsupported(file: s.path, problem: "tensor \"\(h.name)\" is also in \(other.0.path)")
                }
                byName[h.name] = (s, h)
            }
        }
        var used = Set<String>()
        for (_, _, name, shape, dst) in params.namedTensors {
            guard let (s, h) = byName[name] else {
                throw WeightIOError.missingTensor(file: sources.map(\.path).joined(separator: ", "), tensor: name, expectedShape: shape)
            }
            guard h.shape == shape else { throw WeightIOError.tensorShapeMismatch(file: s.path, tensor: name, expected: shape, found: h.shape) }
            try s.read(name, into: dst)
            used.insert(name)
        }
        var dropped: [String] = []
        for (name, (s, h)) in byName.sorted(by: { $0.key < $1.key }) where !used.contains(name) {
            if name.hasSuffix("rotary_emb.inv_freq") {
                dropped.append(name)
            } else if name == "lm_head.weight" && params.config.tieWordEmbeddings {
                // A tied model saved with its head: it must equal the embeddings.
                let head = try s.floats(name)
                guard h.shape == [params.config.vocabSize, params.config.hiddenSize], head.values.elementsEqual(params.tensor(.embed)) else {
                    throw LlamaError.unsupported(file: s.path, problem: "lm_head.weight differs from model.embed_tokens.weight but config.json says tie_word_embeddings")
                }
            } else {
                throw WeightIOError.unusedTensor(file: s.path, tensor: name, shape: h.shape, model: "this model")
            }
        }
        let types = Set(byName.values.map(\.1.dtype.rawValue)).sorted()
        return LlamaImportReport(source: "", sourceFormat: "", sourceTypes: types, droppedBuffers: dropped)
    }

    // MARK: GGUF

    /// The config a GGUF file describes (architecture `llama` or `qwen2`).
    public static func config(gguf g: GGUFFile) throws -> LlamaConfig {
        let arch = try g.string("general.architecture")
        guard arch == "llama" || arch == "qwen2" else {
            throw LlamaError.unsupported(file: g.path, problem: "general.architecture is \"\(arch)\"; this tool reads \"llama\" and \"qwen2\" GGUF files")
        }
        if let s = g["\(arch).rope.scaling.type"], s != .string("none") {
            throw LlamaError.unsupported(file: g.path, problem: "\(arch).rope.scaling.type \(s) is not supported (only the default rotary embedding)")
        }
        if g.tensors.contains(where: { $0.name == "rope_freqs.weight" }) {
            throw LlamaError.unsupported(file: g.path, problem: "rope_freqs.weight (Llama 3.1 rope scaling) is not supported")
        }
        func int(_ key: String, default d: Int? = nil) throws -> Int {
            if g["\(arch).\(key)"] == nil, let d { return d }
            return try g.integer("\(arch).\(key)")
        }
        let heads = try int("attention.head_count")
        let hidden = try int("embedding_length")
        let tokenCount = g["tokenizer.ggml.tokens"] == nil ? 0 : try g.strings("tokenizer.ggml.tokens").count
        let vocab = try int("vocab_size", default: tokenCount)
        let rot = try int("rope.dimension_count", default: hidden / heads)
        let kvHeads = try int("attention.head_count_kv", default: heads)
        let ffn = try int("feed_forward_length"), layers = try int("block_count"), context = try int("context_length")
        let eps = Float(try g.number("\(arch).attention.layer_norm_rms_epsilon"))
        var theta: Float = arch == "qwen2" ? 1_000_000 : 10000
        if g["\(arch).rope.freq_base"] != nil { theta = Float(try g.number("\(arch).rope.freq_base")) }
        let tied = !g.tensors.contains { $0.name == "output.weight" }
        let bias = arch == "llama" && g.tensors.contains { $0.name == "blk.0.attn_q.bias" }
        var c = LlamaConfig(modelType: arch, vocabSize: vocab, hiddenSize: hidden, intermediateSize: ffn, numHiddenLayers: layers,
                            numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim: rot == hidden / heads ? nil : rot,
                            maxPositionEmbeddings: context, rmsNormEps: eps, ropeTheta: theta, tieWordEmbeddings: tied,
                            attentionBias: bias, bosTokenId: g["tokenizer.ggml.bos_token_id"]?.integer,
                            eosTokenId: g["tokenizer.ggml.eos_token_id"]?.integer)
        if let key = g["\(arch).attention.key_length"]?.integer, key != c.headSize { c.headDim = key }
        do { try c.validate() } catch { if case let .invalidConfig(_, m) = error { throw LlamaError.unsupported(file: g.path, problem: m) }; throw error }
        return c
    }

    /// Loads a GGUF file: dequantized weights, llama.cpp's q/k row order undone for `llama`.
    public static func loadGGUF(path: String) throws -> (LlamaParameters, LlamaImportReport) {
        let g = try GGUFFile(path: path)
        let config = try config(gguf: g)
        let params = LlamaParameters(config: config)
        var used = Set<String>()
        for (t, l, _, shape, dst) in params.namedTensors {
            let name = t.ggufName(layer: l)
            guard let info = g.tensors.first(where: { $0.name == name }) else {
                throw WeightIOError.missingTensor(file: path, tensor: name, expectedShape: shape)
            }
            guard info.shape == shape else { throw WeightIOError.tensorShapeMismatch(file: path, tensor: name, expected: shape, found: info.shape) }
            try g.read(name, into: dst)
            if config.modelType == "llama" {
                if t == .q || t == .qBias { unpermuteRows(dst, rows: shape[0], heads: config.numAttentionHeads) }
                if t == .k || t == .kBias { unpermuteRows(dst, rows: shape[0], heads: config.numKeyValueHeads) }
            }
            used.insert(name)
        }
        if let extra = g.tensors.first(where: { !used.contains($0.name) }) {
            throw WeightIOError.unusedTensor(file: path, tensor: extra.name, shape: extra.shape, model: "this model")
        }
        let types = Set(g.tensors.map { "\($0.type)" }).sorted()
        return (params, LlamaImportReport(source: path, sourceFormat: "gguf v\(g.version)", sourceTypes: types, droppedBuffers: []))
    }

    /// Undoes llama.cpp's q/k permutation (convert_hf_to_gguf `permute`): within each head of 2·h
    /// rows, GGUF row 2i + j is Hugging Face row j·h + i (j = 0, 1). Works on weights [rows, in]
    /// and biases [rows] alike.
    ///
    ///     one head of 4 rows a b c d (GGUF) -> a c b d (Hugging Face)
    public static func unpermuteRows(_ w: UnsafeMutableBufferPointer<Float>, rows: Int, heads: Int) {
        precondition(rows % (2 * heads) == 0 && w.count % rows == 0)
        let width = w.count / rows, half = rows / heads / 2
        let copy = Array(w)
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let from = h * 2 * half + 2 * i + j, to = h * 2 * half + j * half + i
                    for k in 0..<width { w[to * width + k] = copy[from * width + k] }
                }
            }
        }
    }

    /// Writes `config.json` and `model.safetensors` (F32, Hugging Face names, metadata format=pt)
    /// into `dir`, plus `extraFiles` (tokenizer files) copied in; all staged and renamed into place
    /// only when everything was written.
    public static func save(_ params: LlamaParameters, to dir: String, files extraFiles: [(name: String, bytes: [UInt8])] = []) throws {
        let folder = try StagedFolder(dir)
        let entries = params.namedTensors.map { SafeTensorsWriter.Entry(name: $0.name, shape: $0.shape, values: UnsafeBufferPointer($0.values)) }
        try SafeTensorsWriter.write(entries, metadata: ["format": "pt"], to: folder.path("model.safetensors"))
        try folder.write("config.json", bytes: Array(params.config.jsonData()) + [0x0A])
        for f in extraFiles { try folder.write(f.name, bytes: f.bytes) }
        try folder.commit()
    }
}
