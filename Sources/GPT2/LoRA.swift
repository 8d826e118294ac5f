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

/// Low-rank adapters on a frozen GPT-2: W x + (alpha / r) · B A dropout(x), as PEFT's LoRA.
/// A [r, in] starts uniform in ±1/sqrt(in) (PEFT's kaiming-uniform with a = sqrt(5)), B [out, r]
/// starts at zero, so a fresh adapter changes nothing. Saved alone with PEFT's tensor names.
public final class LoRA: @unchecked Sendable {
    public let config: GPT2Config
    public let rank: Int
    public let alpha: Float
    public let dropout: Float
    public let targets: [LoRATarget]
    public let weights: FloatBuffer
    public let gradients: FloatBuffer
    private var offsets: [LoRATarget: Int] = [:]

    public var scaling: Float { alpha / Float(rank) }

    public init(config: GPT2Config, rank: Int, alpha: Float, dropout: Float = 0, targets: [LoRATarget] = [.attn]) {
        precondition(rank > 0)
        self.config = config
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = LoRATarget.allCases.filter { targets.contains($0) }
        var total = 0
        for t in self.targets {
            offsets[t] = total
            let (i, o) = t.dims(config)
            total += config.nLayer * rank * (i + o)
        }
        weights = FloatBuffer(count: total)
        gradients = FloatBuffer(count: total)
    }

    public func has(_ t: LoRATarget) -> Bool { offsets[t] != nil }

    /// A [r, in] of `t` in `layer`.
    public func a(_ t: LoRATarget, _ layer: Int, grad: Bool = false) -> UnsafeMutablePointer<Float> {
        let (i, o) = t.dims(config)
        return (grad ? gradients : weights).pointer.baseAddress! + offsets[t]! + layer * rank * (i + o)
    }

    /// B [out, r] of `t` in `layer`.
    public func b(_ t: LoRATarget, _ layer: Int, grad: Bool = false) -> UnsafeMutablePointer<Float> {
        a(t, layer, grad: grad) + rank * t.dims(config).inp
    }

    public func initialize<G: RandomNumberGenerator>(using g: inout G) {
        for t in targets {
            let (i, o) = t.dims(config)
            let bound = 1 / Float(i).squareRoot()
            for l in 0..<config.nLayer {
                let a = a(t, l)
                for k in 0..<(rank * i) { a[k] = Float.random(in: -bound...bound, using: &g) }
                b(t, l).update(repeating: 0, count: rank * o)
            }
        }
    }

    public func zeroGradients() { gradients.pointer.update(repeating: 0) }

    /// PEFT's name for a tensor: `base_model.model.transformer.h.N.attn.c_attn.lora_A.weight`.
    public static func peftName(_ t: LoRATarget, layer: Int, isA: Bool) -> String {
        "base_model.model.transformer.h.\(layer).\(t.rawValue).lora_\(isA ? "A" : "B").weight"
    }

    /// Writes `adapter_model.safetensors` and `adapter_config.json` (PEFT's files) into `dir`.
    public func save(to dir: String) throws {
        let folder = try StagedFolder(dir)
        var entries: [SafeTensorsWriter.Entry] = []
        for t in targets {
            let (i, o) = t.dims(config)
            for l in 0..<config.nLayer {
                entries.append(.init(name: LoRA.peftName(t, layer: l, isA: true), shape: [rank, i], values: UnsafeBufferPointer(start: a(t, l), count: rank * i)))
                entries.append(.init(name: LoRA.peftName(t, layer: l, isA: false), shape: [o, rank], values: UnsafeBufferPointer(start: b(t, l), count: o * rank)))
            }
        }
        try SafeTensorsWriter.write(entries, metadata: ["format": "pt"], to: folder.path("adapter_model.safetensors"))
        // Full module paths: PEFT matches them as suffixes, and "c_proj" alone would name both projections.
        let modules = targets.map(\.rawValue)
        let json: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha, "lora_dropout": dropout,
            "target_modules": modules, "fan_in_fan_out": true, "bias": "none",
            "layers_to_transform": NSNull(), "cllm4rec_targets": targets.map(\.rawValue),
        ]
        try folder.write("adapter_config.json", bytes: Array(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])))
        try folder.commit()
    }

    /// Reads an adapter folder (or its adapter_model.safetensors); every tensor must be present
    /// with its shape, and no other tensor may be there.
    public static func load(path: String, config: GPT2Config) throws -> LoRA {
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        let dir = isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
        let file = isDir.boolValue ? path + "/adapter_model.safetensors" : path
        guard let data = FileManager.default.contents(atPath: dir + "/adapter_config.json"),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let r = json["r"] as? Int, let alpha = (json["lora_alpha"] as? NSNumber)?.floatValue
        else { throw GPT2Error.io(dir + "/adapter_config.json", "missing or without r / lora_alpha") }
        let dropout = (json["lora_dropout"] as? NSNumber)?.floatValue ?? 0
        let st = try SafeTensorsSource(path: file)
        var targets = Set<LoRATarget>()
        for h in st.tensorHeaders {
            guard let t = LoRATarget.allCases.first(where: { h.name.contains(".\($0.rawValue).lora_") }) else {
                throw GPT2Error.unusedTensor(file: file, tensor: h.name, shape: h.shape)
            }
            targets.insert(t)
        }
        let lora = LoRA(config: config, rank: r, alpha: alpha, dropout: dropout, targets: Array(targets))
        var used = 0
        for t in lora.targets {
            let (i, o) = t.dims(config)
            for l in 0..<config.nLayer {
                for (isA, shape, dst) in [(true, [r, i], lora.a(t, l)), (false, [o, r], lora.b(t, l))] {
                    let name = peftName(t, layer: l, isA: isA)
                    guard let h = st.tensorHeaders.first(where: { $0.name == name }) else {
                        throw GPT2Error.missingTensor(file: file, tensor: name, expectedShape: shape)
                    }
                    guard h.shape == shape else { throw GPT2Error.shapeMismatch(file: file, tensor: name, expected: shape, found: h.shape) }
                    try st.read(name, into: UnsafeMutableBufferPointer(start: dst, count: shape[0] * shape[1]))
                    used += 1
                }
            }
        }
        if used != st.tensorHeaders.count {
            let h = st.tensorHeaders.first { h in !lora.targets.contains { t in (0..<config.nLayer).contains { peftName(t, layer: $0, isA: true) == h.name || peftName(t, layer: $0, isA: false) == h.name } } }!
            throw GPT2Error.unusedTensor(file: file, tensor: h.name, shape: h.shape)
        }
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
