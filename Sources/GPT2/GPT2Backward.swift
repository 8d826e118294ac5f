import Backbone
import Tensor

extension GPT2Model {
    /// Backpropagates `dHidden` (the loss gradient at the ln_f output, [N, C]) through the frozen
    /// transformer of the last `forward(..., forBackward: true)` and returns the gradient with
    /// respect to its input embeddings [N, C] (valid until the next call). No gradient is computed
    /// for frozen weights; LoRA gradients are added to `lora.gradients`, and the gradients of the
    /// tensors chosen in `weightGradients` to their buffers (all but `wte`'s, which `forward` never
    /// reads: `nextTokenLoss` adds those).
    public func backward(dHidden: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let c = width, f = config.innerSize, n = layout.tokens
        let (last, g) = memory.startBackward(gradients: 6 * n * c + n * max(f, 3 * c) + n * (lora?.rank ?? 0) + 64)
        let dres = g, dtmp = g + n * c, dln = g + 2 * n * c, dqkv = g + 3 * n * c, dwide = g + 6 * n * c
        let dloraT = dwide + n * max(f, 3 * c)
        let base = memory.activations.pointer.baseAddress!

        // ln_f
        dres.update(repeating: 0, count: n * c)
        let lastOut = config.nLayer > 0 ? layout.layer(memory.activations, config.nLayer - 1).res3 : base + layout.x0
        LayerNorm.backward(dx: dres, dout: dHidden, x: lastOut, weight: params.tensor(.lnfw).baseAddress!,
                           mean: base + layout.lnfMean, rstd: base + layout.lnfRstd, rows: n, width: c)
        layerNormParameterBackward(.lnfw, .lnfb, layer: 0, dout: dHidden, x: lastOut, mean: base + layout.lnfMean, rstd: base + layout.lnfRstd)

        for l in (0..<config.nLayer).reversed() {
            let a = layout.layer(memory.activations, l)
            let x = l == 0 ? base + layout.x0 : layout.layer(memory.activations, l - 1).res3
            // MLP: res3 = res2 + dropout(gelu(ln2 Wfc) Wproj)
            dtmp.update(from: dres, count: n * c)
            if last.dropout { Dropout.apply(dtmp, count: n * c, p: config.residPdrop, seed: Dropout.streamSeed(last.seed, layer: l, site: .mlpOutput)) }
            linearBackward(.fcProj, layer: l, dy: dtmp, x: a.fchGelu, rows: n, w: .fcprojw, b: .fcprojb, dx: dwide, loraT: a.loraT(.fcProj, lora), dloraT: dloraT)
            GELU.backward(dx: dwide, dout: dwide, x: a.fch, count: n * f)
            linearBackward(.fc, layer: l, dy: dwide, x: a.ln2, rows: n, w: .fcw, b: .fcb, dx: dln, loraT: a.loraT(.fc, lora), dloraT: dloraT)
            LayerNorm.backward(dx: dres, dout: dln, x: a.res2, weight: params.tensor(.ln2w, layer: l).baseAddress!,
                               mean: a.ln2Mean, rstd: a.ln2Rstd, rows: n, width: c)
            layerNormParameterBackward(.ln2w, .ln2b, layer: l, dout: dln, x: a.res2, mean: a.ln2Mean, rstd: a.ln2Rstd)
            // Attention: res2 = x + dropout(attn(ln1 Wqkv) Wproj)
            dtmp.update(from: dres, count: n * c)
            if last.dropout { Dropout.apply(dtmp, count: n * c, p: config.residPdrop, seed: Dropout.streamSeed(last.seed, layer: l, site: .attentionOutput)) }
            linearBackward(.attnProj, layer: l, dy: dtmp, x: a.atty, rows: n, w: .attprojw, b: .attprojb, dx: dln, loraT: a.loraT(.attnProj, lora), dloraT: dloraT)
            var row = 0, attOffset = 0
            let attnP = last.dropout ? config.attnPdrop : 0
            for len in last.lengths {
                let q = a.qkv + row * 3 * c, dq = dqkv + row * 3 * c
                CausalAttention.backward(dy: dln + row * c, ldy: c, q: q, ldq: 3 * c, k: q + c, v: q + 2 * c, ldkv: 3 * c,
                                         dq: dq, dk: dq + c, dv: dq + 2 * c, ldd: 3 * c, rows: len, past: 0,
                                         heads: config.nHead, headSize: config.headSize, probs: a.att + attOffset,
                                         scratch: base + layout.attScratch, dropout: attnP,
                                         seed: Dropout.streamSeed(last.seed, layer: l, site: .attention) &+ UInt64(attOffset))
                row += len
                attOffset += config.nHead * len * len
            }
            linearBackward(.attn, layer: l, dy: dqkv, x: a.ln1, rows: n, w: .qkvw, b: .qkvb, dx: dln, loraT: a.loraT(.attn, lora), dloraT: dloraT)
            LayerNorm.backward(dx: dres, dout: dln, x: x, weight: params.tensor(.ln1w, layer: l).baseAddress!,
                               mean: a.ln1Mean, rstd: a.ln1Rstd, rows: n, width: c)
            layerNormParameterBackward(.ln1w, .ln1b, layer: l, dout: dln, x: x, mean: a.ln1Mean, rstd: a.ln1Rstd)
        }
        if last.dropout { Dropout.apply(dres, count: n * c, p: config.embdPdrop, seed: Dropout.streamSeed(last.seed, layer: -1, site: .embeddings)) }
        if let dwpe = weightGradients?.gradient(.wpe) {
            // x0 = inputs + wpe[position]: each row's gradient goes to its position's row.
            var row = 0
            for (s, len) in last.lengths.enumerated() {
                for i in 0..<len { axpy(1, dres + (row + i) * c, dwpe + (last.past[s] + i) * c, c) }
                row += len
            }
        }
        return dres
    }

    /// LayerNorm weight and bias gradients, for those of the pair that are trainable.
    func layerNormParameterBackward(_ w: GPT2Tensor, _ b: GPT2Tensor, layer l: Int, dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>) {
        guard let weightGradients else { return }
        let dw = weightGradients.gradient(w, layer: l), db = weightGradients.gradient(b, layer: l)
        guard dw != nil || db != nil else { return }
        LayerNorm.parameterBackward(dweight: dw, dbias: db, dout: dout, x: x, mean: mean, rstd: rstd, rows: layout.tokens, width: width)
    }

    /// dx [n, in] = dy [n, out] Wᵀ, plus LoRA's path and gradients; dW [in, out] += xᵀ dy and
    /// db += Σ_rows dy only for the tensors chosen in `weightGradients` (frozen ones cost nothing).
    func linearBackward(_ target: LoRATarget, layer l: Int, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows n: Int,
                        w: GPT2Tensor, b: GPT2Tensor, dx: UnsafeMutablePointer<Float>, loraT: UnsafeMutablePointer<Float>?,
                        dloraT: UnsafeMutablePointer<Float>) {
        let (inp, out) = target.dims(config)
        BLAS.gemm(transB: true, m: n, n: inp, k: out, a: dy, lda: out, b: params.tensor(w, layer: l).baseAddress!, ldb: out, c: dx, ldc: inp)
        if let dw = weightGradients?.gradient(w, layer: l) {
            BLAS.gemm(transA: true, m: inp, n: out, k: n, a: x, lda: inp, b: dy, ldb: out, beta: 1, c: dw, ldc: out)
        }
        if let db = weightGradients?.gradient(b, layer: l) {
            addColumnSums(dy, rows: n, cols: out, into: db)
        }
        guard let lora, let t = loraT, let last = memory.batch, let k = lora.index(target.rawValue) else { return }
        let site = Dropout.Site.adapter(LoRATarget.allCases.firstIndex(of: target)!)
        lora.backward(module: k, layer: l, dy: dy, ldy: out, x: x, rows: n, t: t, dx: dx, dt: dloraT,
                      scratch: memory.activations.pointer.baseAddress! + layout.loraScratch,
                      dropoutSeed: last.dropout && lora.dropout > 0 ? Dropout.streamSeed(last.seed, layer: l, site: site) : nil)
    }
}
