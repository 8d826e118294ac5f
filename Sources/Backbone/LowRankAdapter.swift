import Foundation
import Tensor
import WeightIO

/// One projection of a transformer block that can carry a low-rank adapter: its PEFT module path
/// inside a block ("self_attn.q_proj") and its in/out features.
public struct AdapterModule: Equatable, Sendable {
    public let name: String
    public let inp: Int
    public let out: Int
    public init(name: String, inp: Int, out: Int) { self.name = name; self.inp = inp; self.out = out }
}

/// LoRA on a frozen backbone whatever its architecture: W x + (alpha / r) · B A dropout(x), as
/// PEFT. A [r, in] starts uniform in ±1/sqrt(in) (PEFT's kaiming-uniform with a = sqrt(5)), B
/// [out, r] at zero, so a fresh adapter changes nothing. Saved alone with PEFT's tensor names
/// (`<prefix>.N.<module>.lora_A.weight`) and `adapter_config.json`.
open class LowRankAdapter: @unchecked Sendable {
    /// The adapted modules, in the architecture's order.
    public let modules: [AdapterModule]
    public let layers: Int
    public let rank: Int
    public let alpha: Float
    public let dropout: Float
    /// PEFT's path to the blocks: "base_model.model.model.layers" for Llama.
    public let prefix: String
    /// PEFT's `fan_in_fan_out`: true when the base weights are stored [in, out] (GPT-2's Conv1D).
    public let fanInFanOut: Bool
    public let weights: FloatBuffer
    public let gradients: FloatBuffer
    private let offsets: [Int]

    public var scaling: Float { alpha / Float(rank) }

    public init(modules: [AdapterModule], layers: Int, rank: Int, alpha: Float, dropout: Float, prefix: String, fanInFanOut: Bool = false) {
        precondition(rank > 0 && !modules.isEmpty)
        self.modules = modules; self.layers = layers; self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.prefix = prefix
        self.fanInFanOut = fanInFanOut
        var total = 0, offsets: [Int] = []
        for m in modules { offsets.append(total); total += layers * rank * (m.inp + m.out) }
        self.offsets = offsets
        weights = FloatBuffer(count: total)
        gradients = FloatBuffer(count: total)
    }

    /// The index of module `name` among the adapted ones, or nil.
    public func index(_ name: String) -> Int? { modules.firstIndex { $0.name == name } }

    /// A [r, in] of module `k` in `layer`.
    public func a(_ k: Int, _ layer: Int, grad: Bool = false) -> UnsafeMutablePointer<Float> {
        let m = modules[k]
        return (grad ? gradients : weights).pointer.baseAddress! + offsets[k] + layer * rank * (m.inp + m.out)
    }

    /// B [out, r] of module `k` in `layer`.
    public func b(_ k: Int, _ layer: Int, grad: Bool = false) -> UnsafeMutablePointer<Float> {
        a(k, layer, grad: grad) + rank * modules[k].inp
    }

    public func initialize<G: RandomNumberGenerator>(using g: inout G) {
        for (k, m) in modules.enumerated() {
            let bound = 1 / Float(m.inp).squareRoot()
            for l in 0..<layers {
                let a = a(k, l)
                for i in 0..<(rank * m.inp) { a[i] = Float.random(in: -bound...bound, using: &g) }
                b(k, l).update(repeating: 0, count: rank * m.out)
            }
        }
    }

    public func zeroGradients() { gradients.pointer.update(repeating: 0) }

    public func peftName(_ k: Int, layer: Int, isA: Bool) -> String {
        "\(prefix).\(layer).\(modules[k].name).lora_\(isA ? "A" : "B").weight"
    }

    /// Writes `adapter_model.safetensors` and `adapter_config.json` (PEFT's files) into `dir`.
    public func save(to dir: String) throws {
        let folder = try StagedFolder(dir)
        try save(into: folder, under: "")
        try folder.commit()
    }

    /// Stages PEFT's two files in `folder` under the subfolder `dir` ("" for its top), so that they
    /// are committed together with the folder's other files; the commit's id is recorded in the
    /// config (`cllm4rec_commit`).
    public func save(into folder: StagedFolder, under dir: String) throws {
        func name(_ file: String) -> String { dir.isEmpty ? file : dir + "/" + file }
        var entries: [SafeTensorsWriter.Entry] = []
        for (k, m) in modules.enumerated() {
            for l in 0..<layers {
                entries.append(.init(name: peftName(k, layer: l, isA: true), shape: [rank, m.inp], values: UnsafeBufferPointer(start: a(k, l), count: rank * m.inp)))
                entries.append(.init(name: peftName(k, layer: l, isA: false), shape: [m.out, rank], values: UnsafeBufferPointer(start: b(k, l), count: m.out * rank)))
            }
        }
        try SafeTensorsWriter.write(entries, metadata: ["format": "pt"], to: folder.path(name("adapter_model.safetensors")))
        let json: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha, "lora_dropout": dropout,
            // Full module paths: PEFT matches them as suffixes, and a last component alone can name
            // two modules (GPT-2's "c_proj").
            "target_modules": modules.map(\.name), "fan_in_fan_out": fanInFanOut, "bias": "none",
            "layers_to_transform": NSNull(), "cllm4rec_targets": modules.map(\.name), "cllm4rec_commit": folder.generation,
        ]
        try folder.write(name("adapter_config.json"), bytes: Array(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])))
    }

    /// Module k's part of its projection's forward in `layer`: t [n, r] = dropout(x) Aᵀ (kept for
    /// the backward), y [n, out] (row stride ldy) += s · t Bᵀ; `dropoutSeed` the stream for this
    /// site (nil: no dropout), `scratch` room for n · in floats.
    public func forward(module k: Int, layer l: Int, x: UnsafePointer<Float>, rows n: Int, t: UnsafeMutablePointer<Float>,
                        y: UnsafeMutablePointer<Float>, ldy: Int, scratch: UnsafeMutablePointer<Float>, dropoutSeed: UInt64?) {
        let r = rank, inp = modules[k].inp, out = modules[k].out
        var xin = x
        if let dropoutSeed, dropout > 0 {
            scratch.update(from: x, count: n * inp)
            Dropout.apply(scratch, count: n * inp, p: dropout, seed: dropoutSeed)
            xin = UnsafePointer(scratch)
        }
        BLAS.gemm(transB: true, m: n, n: r, k: inp, a: xin, lda: inp, b: a(k, l), ldb: inp, c: t, ldc: r)
        BLAS.gemm(transB: true, m: n, n: out, k: r, alpha: scaling, a: t, lda: r, b: b(k, l), ldb: r, beta: 1, c: y, ldc: ldy)
    }

    /// Module k's part of its projection's backward in `layer`, the same for every architecture:
    /// dB [out, r] += s · dyᵀ t, dt [n, r] = s · dy B, dA [r, in] += dtᵀ dropout(x), dx += dropout(dt A);
    /// `t` [n, r] is the forward's A·dropout(x), `dropoutSeed` the forward's stream for this site
    /// (nil: no dropout), `scratch` room for n · in floats.
    public func backward(module k: Int, layer l: Int, dy: UnsafePointer<Float>, ldy: Int, x: UnsafePointer<Float>, rows n: Int,
                         t: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dt: UnsafeMutablePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>, dropoutSeed: UInt64?) {
        let r = rank, s = scaling, inp = modules[k].inp, out = modules[k].out
        let p = dropoutSeed == nil ? 0 : dropout
        BLAS.gemm(transA: true, m: out, n: r, k: n, alpha: s, a: dy, lda: ldy, b: t, ldb: r, beta: 1, c: b(k, l, grad: true), ldc: r)
        BLAS.gemm(m: n, n: r, k: out, alpha: s, a: dy, lda: ldy, b: b(k, l), ldb: r, c: dt, ldc: r)
        var xin = x
        if p > 0 {
            scratch.update(from: x, count: n * inp)
            Dropout.apply(scratch, count: n * inp, p: p, seed: dropoutSeed!)
            xin = UnsafePointer(scratch)
        }
        BLAS.gemm(transA: true, m: r, n: inp, k: n, a: dt, lda: r, b: xin, ldb: inp, beta: 1, c: a(k, l, grad: true), ldc: inp)
        if p > 0 {
            BLAS.gemm(m: n, n: inp, k: r, a: dt, lda: r, b: a(k, l), ldb: inp, c: scratch, ldc: inp)
            Dropout.apply(scratch, count: n * inp, p: p, seed: dropoutSeed!)
            axpy(1, scratch, dx, n * inp)
        } else {
            BLAS.gemm(m: n, n: inp, k: r, a: dt, lda: r, b: a(k, l), ldb: inp, beta: 1, c: dx, ldc: inp)
        }
    }

    /// Reads an adapter folder whose modules must be among `available` (the architecture's); every
    /// tensor must be present with its shape, and no other tensor may be there.
    public static func load(path dir: String, available: [AdapterModule], layers: Int, prefix: String, fanInFanOut: Bool = false) throws -> LowRankAdapter {
        let configPath = dir + "/adapter_config.json", file = dir + "/adapter_model.safetensors"
        guard let data = FileManager.default.contents(atPath: configPath),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let r = json["r"] as? Int, r > 0, let alpha = (json["lora_alpha"] as? NSNumber)?.floatValue
        else { throw WeightIOError.torchUnsupported(file: configPath, problem: "missing, or without a positive r and lora_alpha") }
        let dropout = (json["lora_dropout"] as? NSNumber)?.floatValue ?? 0
        let st = try SafeTensorsSource(path: file)
        var names = Set<String>()
        for h in st.tensorHeaders {
            guard let m = available.first(where: { h.name.contains(".\($0.name).lora_") }) else {
                throw WeightIOError.invalidTensorInfo(file: file, tensor: h.name, problem: "is not a LoRA tensor of this architecture's modules (\(available.map(\.name).joined(separator: ", ")))")
            }
            names.insert(m.name)
        }
        let adapter = LowRankAdapter(modules: available.filter { names.contains($0.name) }, layers: layers, rank: r, alpha: alpha,
                                     dropout: dropout, prefix: prefix, fanInFanOut: fanInFanOut)
        var used = 0
        for (k, m) in adapter.modules.enumerated() {
            for l in 0..<layers {
                for (isA, shape, dst) in [(true, [r, m.inp], adapter.a(k, l)), (false, [m.out, r], adapter.b(k, l))] {
                    let name = adapter.peftName(k, layer: l, isA: isA)
                    guard let h = st.tensorHeaders.first(where: { $0.name == name }) else { throw WeightIOError.tensorNotFound(file: file, tensor: name) }
                    guard h.shape == shape else {
                        throw WeightIOError.invalidTensorInfo(file: file, tensor: name, problem: "shape \(h.shape), expected \(shape)")
                    }
                    try st.read(name, into: UnsafeMutableBufferPointer(start: dst, count: shape[0] * shape[1]))
                    used += 1
                }
            }
        }
        if used != st.tensorHeaders.count {
            throw WeightIOError.invalidTensorInfo(file: file, tensor: "(\(st.tensorHeaders.count - used) tensors)", problem: "not named as this adapter's layers and modules")
        }
        return adapter
    }
}
