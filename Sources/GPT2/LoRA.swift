import Backbone
import Foundation
import Tensor
import WeightIO

/// A projection of a GPT-2 block that can carry a LoRA adapter, with PEFT's module names.
public enum LoRATarget: String, CaseIterable, Codable, Sendable {
    case attn = "attn.c_attn"
    case attnProj = "attn.c_proj"
    case fc = "mlp.c_fc"
    case fcProj = "mlp.c_proj"

    /// (in, out) features of the projection.
    public func dims(_ c: GPT2Config) -> (inp: Int, out: Int) {
        switch self {
        case .attn: return (c.nEmbd, 3 * c.nEmbd)
        case .attnProj: return (c.nEmbd, c.nEmbd)
        case .fc: return (c.nEmbd, c.innerSize)
        case .fcProj: return (c.innerSize, c.nEmbd)
        }
    }

    /// Parses `c_attn`, `attn.c_proj`, `c_fc`, `mlp.c_proj` (`c_proj` alone means both projections).
    public static func parse(_ s: String) -> [LoRATarget]? {
        switch s {
        case "c_attn", "attn.c_attn": return [.attn]
        case "c_proj": return [.attnProj, .fcProj]
        case "attn.c_proj": return [.attnProj]
        case "c_fc", "mlp.c_fc": return [.fc]
        case "mlp.c_proj": return [.fcProj]
        default: return nil
        }
    }
}

/// Low-rank adapters on a frozen GPT-2: W x + (alpha / r) · B A dropout(x), as PEFT's LoRA, on the
/// shared `LowRankAdapter` storage (GPT-2's module names, Conv1D's fan-in-fan-out). A [r, in]
/// starts uniform in ±1/sqrt(in) (PEFT's kaiming-uniform with a = sqrt(5)), B [out, r] at zero, so a
/// fresh adapter changes nothing. Saved alone with PEFT's tensor names.
public final class LoRA: LowRankAdapter, @unchecked Sendable {
    public let config: GPT2Config
    public let targets: [LoRATarget]

    /// PEFT's path to GPT-2's blocks.
    public static let peftPrefix = "base_model.model.transformer.h"

    /// GPT-2's adaptable projections as adapter modules, in model order.
    public static func modules(_ config: GPT2Config) -> [AdapterModule] {
        LoRATarget.allCases.map { t in let (i, o) = t.dims(config); return AdapterModule(name: t.rawValue, inp: i, out: o) }
    }

    public init(config: GPT2Config, rank: Int, alpha: Float, dropout: Float = 0, targets: [LoRATarget] = [.attn]) {
        var chosen: [LoRATarget] = [], modules: [AdapterModule] = []
        for t in LoRATarget.allCases where targets.contains(t) {
            let (i, o) = t.dims(config)
            chosen.append(t)
            modules.append(AdapterModule(name: t.rawValue, inp: i, out: o))
        }
        self.config = config
        self.targets = chosen
        super.init(modules: modules, layers: config.nLayer, rank: rank, alpha: alpha, dropout: dropout, prefix: LoRA.peftPrefix,
                   fanInFanOut: true)
    }

    public func has(_ t: LoRATarget) -> Bool { targets.contains(t) }

    /// A [r, in] of `t` in `layer`.
    public func a(_ t: LoRATarget, _ layer: Int, grad: Bool = false) -> UnsafeMutablePointer<Float> {
        a(index(t.rawValue)!, layer, grad: grad)
    }

    /// B [out, r] of `t` in `layer`.
    public func b(_ t: LoRATarget, _ layer: Int, grad: Bool = false) -> UnsafeMutablePointer<Float> {
        b(index(t.rawValue)!, layer, grad: grad)
    }

    /// PEFT's name for a tensor: `base_model.model.transformer.h.N.attn.c_attn.lora_A.weight`.
    public static func peftName(_ t: LoRATarget, layer: Int, isA: Bool) -> String {
        "\(peftPrefix).\(layer).\(t.rawValue).lora_\(isA ? "A" : "B").weight"
    }

    /// Reads an adapter folder (or its adapter_model.safetensors) as every architecture does
    /// (`LowRankAdapter.load`: every tensor present with its shape, no other tensor there), on
    /// GPT-2's modules with Conv1D's fan-in-fan-out.
    public static func load(path: String, config: GPT2Config) throws -> LoRA {
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        let dir = isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
        let read = try LowRankAdapter.load(path: dir, available: modules(config), layers: config.nLayer, prefix: peftPrefix, fanInFanOut: true)
        let lora = LoRA(config: config, rank: read.rank, alpha: read.alpha, dropout: read.dropout,
                        targets: read.modules.map { LoRATarget(rawValue: $0.name)! })
        precondition(lora.modules == read.modules && lora.weights.count == read.weights.count)
        lora.weights.pointer.update(from: UnsafeBufferPointer(read.weights.pointer))
        return lora
    }

    /// W[in, out] += scaling · (B A)ᵀ for every adapted projection: the merged model computes
    /// what base + adapter computed, without the adapter.
    public func merge(into params: GPT2Parameters) {
        for t in targets {
            let (i, o) = t.dims(config)
            let kind: GPT2Tensor = [.attn: .qkvw, .attnProj: .attprojw, .fc: .fcw, .fcProj: .fcprojw][t]!
            for l in 0..<config.nLayer {
                // W [i, o] += s · Aᵀ [i, r] · Bᵀ [r, o]
                BLAS.gemm(transA: true, transB: true, m: i, n: o, k: rank, alpha: scaling, a: a(t, l), lda: i,
                          b: b(t, l), ldb: rank, beta: 1, c: params.tensor(kind, layer: l).baseAddress!, ldc: o)
            }
        }
    }
}
