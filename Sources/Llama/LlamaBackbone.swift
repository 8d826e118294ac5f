import Backbone
import Tensor

/// The Llama family behind the backbone seam.
extension LlamaModel: LanguageBackbone {
    public var architecture: String { config.modelType }
    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.maxPositionEmbeddings }
    public var layerCount: Int { config.numHiddenLayers }
    public var tokenEmbeddings: UnsafeMutablePointer<Float> { params.tensor(.embed).baseAddress! }
    public var outputHead: UnsafePointer<Float> { UnsafePointer(params.tensor(.head).baseAddress!) }

    public var adapter: LowRankAdapter? {
        get { lora }
        set { lora = newValue }
    }
    public var adapterModules: [AdapterModule] { LlamaModel.adapterModules(config) }
    /// PEFT's default for the Llama family.
    public var defaultAdapterTargets: [String] { ["q_proj", "v_proj"] }

    public func makeAdapter(rank: Int, alpha: Float, dropout: Float, targets: [String]) throws -> LowRankAdapter {
        guard let a = newAdapter(rank: rank, alpha: alpha, dropout: dropout, targets: targets) else {
            let all = LlamaModel.adapterModules(config)
            let bad = targets.first { t in !all.contains { $0.name == t || $0.name.hasSuffix("." + t) } } ?? targets.joined(separator: ",")
            throw BackboneError.unknownAdapterTarget(name: bad, architecture: config.modelType, available: all.map { String($0.name.split(separator: ".").last!) })
        }
        return a
    }

    public func loadAdapter(path: String) throws -> LowRankAdapter {
        try LowRankAdapter.load(path: path, available: LlamaModel.adapterModules(config), layers: config.numHiddenLayers, prefix: LlamaModel.adapterPrefix)
    }

    public func makeCache(slots: Int, maxLength: Int) -> KVCache {
        KVCache(layers: config.numHiddenLayers, width: config.keyValueWidth, slots: slots, maxLength: min(maxLength, config.maxPositionEmbeddings))
    }
}

extension LlamaModel {
    /// Mean cross-entropy of predicting each token of each sequence from the ones before it (as
    /// `LlamaForCausalLM(labels=input_ids)`), and with `gradient`, d(mean loss)/d(input embeddings)
    /// [N, C]; the tensors chosen in `weightGradients` get their gradients added (the token table
    /// through the lookup, and through the head when tied).
    public func nextTokenLoss(_ sequences: [[Int]], dropout: Bool = false, seed: UInt64 = 0, gradient: Bool = false)
        -> (loss: Double, count: Int, inputGradient: [Float]?)
    {
        let c = width
        let ids = sequences.flatMap { $0 }
        let n = ids.count
        var rows: [Int] = [], targets: [Int32] = []
        var start = 0
        for s in sequences {
            for i in 0..<max(0, s.count - 1) { rows.append(start + i); targets.append(Int32(s[i + 1])) }
            start += s.count
        }
        let m = rows.count
        let inputs = lossBuffer(0, n * c), gathered = lossBuffer(1, m * c)
        let dGathered = lossBuffer(2, gradient ? m * c : 0), dHidden = lossBuffer(3, gradient ? n * c : 0)
        embedTokens(ids, into: inputs)
        let hidden = forward(inputs: inputs, lengths: sequences.map(\.count), dropout: dropout, seed: seed, forBackward: gradient)
        guard m > 0 else { return (0, 0, gradient ? [Float](repeating: 0, count: n * c) : nil) }
        for (k, r) in rows.enumerated() { (gathered + k * c).update(from: hidden + r * c, count: c) }
        let dHead = gradient ? weightGradients?.gradient(config.tieWordEmbeddings ? .embed : .head) : nil
        let total = targets.withUnsafeBufferPointer { t in
            ChunkedCrossEntropy.lossAndGradient(hidden: gathered, rows: m, width: c, head: outputHead, vocab: config.vocabSize,
                                                targets: t.baseAddress!, gradScale: 1 / Float(m), dHidden: gradient ? dGathered : nil,
                                                dHead: dHead, scratch: headScratch(rows: m))
        }
        guard gradient else { return (total / Double(m), m, nil) }
        dHidden.update(repeating: 0, count: n * c)
        for (k, r) in rows.enumerated() { (dHidden + r * c).update(from: dGathered + k * c, count: c) }
        let dIn = backward(dHidden: dHidden)
        if let dEmbed = weightGradients?.gradient(.embed) {
            for (r, id) in ids.enumerated() { axpy(1, dIn + r * c, dEmbed + id * c, c) }
        }
        return (total / Double(m), m, Array(UnsafeBufferPointer(start: dIn, count: n * c)))
    }

    func lossBuffer(_ k: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        if lossBuffers[k].count < max(count, 1) { lossBuffers[k] = FloatBuffer(count: max(count, 1) + count / 4) }
        return lossBuffers[k].pointer.baseAddress!
    }

    func headScratch(rows: Int) -> UnsafeMutableBufferPointer<Float> {
        let need = min(max(rows, 1), ChunkedCrossEntropy.defaultChunkRows) * config.vocabSize
        if headBuffer.count < need { headBuffer = FloatBuffer(count: need) }
        return headBuffer.pointer
    }
}
