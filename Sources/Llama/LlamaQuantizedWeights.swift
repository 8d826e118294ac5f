import Backbone
import Foundation
import Tensor
import WeightIO

/// The projections and the head of a Llama-family model as its GGUF file stores them (Q8_0, Q4_0,
/// Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, F16, BF16), for the decoding path: a step of one or a few tokens multiplies with these blocks
/// directly, reading a quarter to a half of the F32 weights' bytes. Everything else (prefill,
/// training, evaluation) uses the F32 weights, which are these values dequantized.
///
/// The file is `quantized.gguf` next to `model.safetensors` (`import-model --keep-quantized`). It
/// must be the file the F32 weights came from: the first row of every tensor used is checked equal
/// to the F32 row, so a folder whose weights changed since (merged, retrained) is refused.
public final class LlamaQuantizedWeights: @unchecked Sendable {
    public static let fileName = "quantized.gguf"

    let file: GGUFFile
    private var matrices: [Int: QuantizedMatrix] = [:]
    /// q and k rows are in llama.cpp's order (convert_hf_to_gguf's permute) for `llama` models.
    let permutedQK: Bool
    /// Per format, how many weights are multiplied from it (the summary line).
    public private(set) var formats: [String: Int] = [:]

    static func key(_ t: LlamaTensor, _ layer: Int) -> Int { t.rawValue * 100_000 + layer }

    /// The tensors of `params`' model in `path` whose type has a quantized product; the others (and
    /// any model whose norms or embeddings are quantized) keep the F32 path.
    public init(path: String, params: LlamaParameters) throws {
        file = try GGUFFile(path: path)
        let config = params.config
        permutedQK = config.modelType == "llama"
        var wanted: [(LlamaTensor, Int)] = []
        for l in 0..<config.numHiddenLayers { for t in [LlamaTensor.q, .k, .v, .o, .gate, .up, .down] { wanted.append((t, l)) } }
        wanted.append((config.tieWordEmbeddings ? .embed : .head, 0))
        for (t, l) in wanted {
            let name = t.ggufName(layer: l)
            guard let info = file.tensors.first(where: { $0.name == name }) else {
                throw WeightIOError.missingTensor(file: path, tensor: name, expectedShape: t.shape(config))
            }
            guard info.shape == t.shape(config) else {
                throw WeightIOError.tensorShapeMismatch(file: path, tensor: name, expected: t.shape(config), found: info.shape)
            }
            guard let format = QuantizedMatrix.Format(rawValue: Int32(info.type.rawValue)) else { continue }
            let raw = try file.rawBytes(name)
            let rows = info.shape[0], cols = info.shape[1]
            // Row 0 keeps its place under the q/k permutation: it must equal the F32 weights' row 0.
            var row = [Float](repeating: 0, count: cols)
            row.withUnsafeMutableBufferPointer {
                GGUFDequantize.dequantize(UnsafeRawBufferPointer(rebasing: raw[0..<(cols / format.blockElements * format.blockBytes)]), type: info.type, into: $0)
            }
            let f32 = params.tensor(t, layer: l)
            guard (0..<cols).allSatisfy({ row[$0].bitPattern == f32[$0].bitPattern }) else {
                throw ModelFileError.io(file: path, problem: "\(name) is not the tensor this folder's model.safetensors holds (weights changed since import?): remove \(LlamaQuantizedWeights.fileName) or import again")
            }
            let key = t == .embed ? Self.key(.head, 0) : Self.key(t, l)
            matrices[key] = QuantizedMatrix(format: format, rows: rows, cols: cols, bytes: raw.baseAddress!, owner: file)
            formats["\(info.type)", default: 0] += rows * cols
        }
    }

    /// The quantized matrix of projection `t` in `layer` (`.head` for the output head), if kept.
    func matrix(_ t: LlamaTensor, layer: Int) -> QuantizedMatrix? { matrices[Self.key(t, t == .head ? 0 : layer)] }

    /// y [rows of t] = W_t x (x quantized once by the caller for every matrix that reads it), q and
    /// k rows put back in Hugging Face's order; false when `t` has no quantized matrix.
    func multiply(_ t: LlamaTensor, layer: Int, config: LlamaConfig, x: QuantizedVector, into y: UnsafeMutablePointer<Float>) -> Bool {
        guard let m = matrix(t, layer: layer) else { return false }
        m.multiply(x, into: y)
        if permutedQK && (t == .q || t == .k) {
            LlamaCheckpoint.unpermuteRows(UnsafeMutableBufferPointer(start: y, count: m.rows), rows: m.rows,
                                          heads: t == .q ? config.numAttentionHeads : config.numKeyValueHeads)
        }
        return true
    }
}
