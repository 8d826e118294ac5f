import Backbone
import Tensor

extension LlamaModel {
    /// Backpropagates `dHidden` (the loss gradient at the final norm's output, [N, C]) through the
    /// frozen model of the last `forward(..., forBackward: true)` and returns the gradient with
    /// respect to its input embeddings [N, C] (valid until the next call). LoRA gradients are added
    /// to `lora.gradients`; the tensors chosen in `weightGradients` get theirs added (all but the
    /// token table's, which `forward` never reads: `nextTokenLoss` adds those).
    public func backward(dHidden: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let c = width, f = config.intermediateSize, n = layout.tokens, d = config.headSize
        let Q = config.queryWidth, K = config.keyValueWidth, ld = Q + 2 * K
        let H = config.numAttentionHeads, group = H / config.numKeyValueHeads
        let r = lora?.rank ?? 0
        let (last, g) = memory.startBackward(gradients: 2 * n * c + n * ld + 3 * n * f + n * max(c, Q) + n * r + 64)
        let dres = g, dnorm = g + n * c, dqkv = g + 2 * n * c, dAct = dqkv + n * ld, dGU = dAct + n * f
        let dAtty = dGU + 2 * n * f, dloraT = dAtty + n * max(c, Q)
        let base = memory.activations.pointer.baseAddress!

        dres.update(repeating: 0, count: n * c)
        let lastOut = config.numHiddenLayers > 0 ? layout.layer(memory.activations, config.numHiddenLayers - 1).res3 : base + layout.x0
        RMSNorm.backward(dx: dres, dout: dHidden, x: lastOut, weight: params.tensor(.norm).baseAddress!, rstd: base + layout.finalRstd,
                         rows: n, width: c)
        if let dw = weightGradients?.gradient(.norm) {
            RMSNorm.parameterBackward(dweight: dw, dout: dHidden, x: lastOut, rstd: base + layout.finalRstd, rows: n, width: c)
        }

        // Where each sequence's rows and attention probabilities start, and each row's sequence:
        // the same for every layer.
        let attnP = last.dropout ? config.attentionDropout : 0
        let scratch = base + layout.attScratch, blocks = base + layout.attBlocks
        var rowStart = [Int](), attStart = [Int](), row = 0, attOffset = 0
        for len in last.lengths {
            rowStart.append(row); attStart.append(attOffset)
            row += len; attOffset += H * len * len
        }
        let costs = last.lengths.flatMap { len in [Int](repeating: len * len, count: H) }
        let sequenceOf = last.lengths.indices.flatMap { s in [Int](repeating: s, count: last.lengths[s]) }

        for l in (0..<config.numHiddenLayers).reversed() {
            let a = layout.layer(memory.activations, l)
            let x = l == 0 ? base + layout.x0 : layout.layer(memory.activations, l - 1).res3
            // MLP: res3 = res2 + down(silu(gate(xn2)) · up(xn2)), xn2 = norm(res2)
            linearBackward(.down, bias: nil, layer: l, dy: dres, ldy: c, x: a.act, rows: n, inp: f, out: c, dx: dAct, accumulate: false, a: a, dloraT: dloraT)
            SwiGLU.backward(dGateUp: dGU, dout: dAct, gateUp: a.gu, rows: n, width: f)
            // dx of gate and up as one product with their adjacent weights [2F, C], then each one's
            // weight gradient and LoRA.
            BLAS.gemm(m: n, n: c, k: 2 * f, a: dGU, lda: 2 * f, b: params.tensor(.gate, layer: l).baseAddress!, ldb: c, c: dnorm, ldc: c)
            linearBackward(.gate, bias: nil, layer: l, dy: dGU, ldy: 2 * f, x: a.xn2, rows: n, inp: c, out: f, dx: dnorm, accumulate: nil, a: a, dloraT: dloraT)
            linearBackward(.up, bias: nil, layer: l, dy: dGU + f, ldy: 2 * f, x: a.xn2, rows: n, inp: c, out: f, dx: dnorm, accumulate: nil, a: a, dloraT: dloraT)
            RMSNorm.backward(dx: dres, dout: dnorm, x: a.res2, weight: params.tensor(.mlpNorm, layer: l).baseAddress!, rstd: a.rstd2, rows: n, width: c)
            if let dw = weightGradients?.gradient(.mlpNorm, layer: l) {
                RMSNorm.parameterBackward(dweight: dw, dout: dnorm, x: a.res2, rstd: a.rstd2, rows: n, width: c)
            }
            // Attention: res2 = x + o(attention(rope(q), rope(k), v)), q, k, v from xn1 = norm(x)
            linearBackward(.o, bias: .oBias, layer: l, dy: dres, ldy: c, x: a.atty, rows: n, inp: Q, out: c, dx: dAtty, accumulate: false, a: a, dloraT: dloraT)
            // Every (sequence, head) into its own [len, 3d] block (dq | dk | dv) across the cores,
            // then dq goes in place and dk, dv are added to the key/value head the query head shares.
            Parallel.tasks(costs: costs, maxWorkers: layout.attentionWorkers) { t, w in
                let s = t / H, h = t % H, kv = h / group, len = last.lengths[s], span = len * len
                let q = a.qkv + rowStart[s] * ld, block = blocks + (rowStart[s] * H + h * len) * 3 * d
                CausalAttention.backward(dy: dAtty + rowStart[s] * Q + h * d, ldy: Q, q: q + h * d, ldq: ld, k: q + Q + kv * d,
                                         v: q + Q + K + kv * d, ldkv: ld, dq: block, dk: block + d, dv: block + 2 * d, ldd: 3 * d,
                                         rows: len, past: 0, heads: 1, headSize: d, probs: a.att + attStart[s] + h * span,
                                         scratch: scratch + w * 2 * layout.maxSpan,
                                         dropout: attnP, seed: Dropout.streamSeed(last.seed, layer: l, site: .attention) &+ UInt64(attStart[s] + h * span))
            }
            // Gather each row's blocks back (rows across the cores), then undo the rotations: the
            // gradient of a rotation is the inverse rotation.
            sequenceOf.withUnsafeBufferPointer { sequenceOf in
                Parallel.rows(n, width: H * 3 * d) { part in
                    for row in part {
                        let s = sequenceOf[row], len = last.lengths[s], i = row - rowStart[s]
                        let dq = dqkv + row * ld
                        (dq + Q).update(repeating: 0, count: 2 * K)
                        for h in 0..<H {
                            let kv = h / group, block = blocks + (rowStart[s] * H + h * len + i) * 3 * d
                            (dq + h * d).update(from: block, count: d)
                            axpy(1, block + d, dq + Q + kv * d, d)
                            axpy(1, block + 2 * d, dq + Q + K + kv * d, d)
                        }
                    }
                }
            }
            rotary.apply(dqkv, ld: ld, positions: layout.positions, heads: H + config.numKeyValueHeads, inverse: true)
            // dx of q, k, v as one product with their adjacent weights [Q+2K, C].
            BLAS.gemm(m: n, n: c, k: ld, a: dqkv, lda: ld, b: params.tensor(.q, layer: l).baseAddress!, ldb: c, c: dnorm, ldc: c)
            linearBackward(.q, bias: .qBias, layer: l, dy: dqkv, ldy: ld, x: a.xn1, rows: n, inp: c, out: Q, dx: dnorm, accumulate: nil, a: a, dloraT: dloraT)
            linearBackward(.k, bias: .kBias, layer: l, dy: dqkv + Q, ldy: ld, x: a.xn1, rows: n, inp: c, out: K, dx: dnorm, accumulate: nil, a: a, dloraT: dloraT)
            linearBackward(.v, bias: .vBias, layer: l, dy: dqkv + Q + K, ldy: ld, x: a.xn1, rows: n, inp: c, out: K, dx: dnorm, accumulate: nil, a: a, dloraT: dloraT)
            RMSNorm.backward(dx: dres, dout: dnorm, x: x, weight: params.tensor(.attnNorm, layer: l).baseAddress!, rstd: a.rstd1, rows: n, width: c)
            if let dw = weightGradients?.gradient(.attnNorm, layer: l) {
                RMSNorm.parameterBackward(dweight: dw, dout: dnorm, x: x, rstd: a.rstd1, rows: n, width: c)
            }
        }
        return dres
    }

    /// dx [n, in] (= or +=, or left alone when `accumulate` is nil: a grouped product made it) dy
    /// [n, out] W, plus LoRA's path and gradients; dW [out, in] += dyᵀ x and db += Σ_rows dy only for
    /// the tensors chosen in `weightGradients`.
    func linearBackward(_ w: LlamaTensor, bias: LlamaTensor?, layer l: Int, dy: UnsafePointer<Float>, ldy: Int, x: UnsafePointer<Float>,
                        rows n: Int, inp: Int, out: Int, dx: UnsafeMutablePointer<Float>, accumulate: Bool?, a: LlamaLayerActivations,
                        dloraT: UnsafeMutablePointer<Float>) {
        let weight = params.tensor(w, layer: l).baseAddress!
        if let accumulate {
            BLAS.gemm(m: n, n: inp, k: out, a: dy, lda: ldy, b: weight, ldb: inp, beta: accumulate ? 1 : 0, c: dx, ldc: inp)
        }
        if let dw = weightGradients?.gradient(w, layer: l) {
            BLAS.gemm(transA: true, m: out, n: inp, k: n, a: dy, lda: ldy, b: x, ldb: inp, beta: 1, c: dw, ldc: inp)
        }
        if let bias, let db = weightGradients?.gradient(bias, layer: l) {
            for r in 0..<n { axpy(1, dy + r * ldy, db, out) }
        }
        guard let lora, let k = lora.index(LlamaModel.module(w)), let last = memory.batch else { return }
        lora.backward(module: k, layer: l, dy: dy, ldy: ldy, x: x, rows: n, t: a.loraT(k), dx: dx, dt: dloraT,
                      scratch: memory.activations.pointer.baseAddress! + layout.loraScratch,
                      dropoutSeed: last.dropout && lora.dropout > 0 ? Dropout.streamSeed(last.seed, layer: l, site: .adapter(k)) : nil)
    }
}
