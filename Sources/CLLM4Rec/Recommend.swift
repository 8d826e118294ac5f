import GPT2
import RecData
import Tensor
import Tokenizer

/// One recommended item.
public struct Recommendation: Sendable {
    public var item: Int
    public var score: Float
}

extension RecModel {
    /// The top `k` items for user `u`: the prompt holds the user's training items (shuffled with
    /// `seed`), scored by the recommendation head; `exclude` items are never returned.
    public func recommend(user u: Int, history: [Int], corpora: Corpora, k: Int, exclude: Set<Int>, seed: UInt64) -> [Recommendation] {
        var rng = SplitMix64(seed: seed)
        let prompt = corpora.finetunePrompt(userToken: firstUser + u, items: history.shuffled(using: &rng).map { firstItem + $0 })
        let scores = self.scores(prompts: [prompt], copy: .recommendation)
        return scores.withUnsafeBufferPointer { s in
            RankingMetrics.topK(s, k: k, excluded: exclude).map { Recommendation(item: $0, score: s[$0]) }
        }
    }

    /// Recommendations for a history the model never saw: a new user token is added and its
    /// embedding alone is fitted (`steps` Adam steps of the finetuning objective: hide 20% of the
    /// history, predict it from the rest), then the history is scored as for a known user. Nothing
    /// else changes: no retraining.
    public func recommendForNewUser(history: [Int], corpora: Corpora, k: Int, steps: Int = 30, learningRate: Float = 1e-2,
                                    seed: UInt64) -> [Recommendation] {
        precondition(!history.isEmpty)
        let e = IDEmbeddings(users: users + 1, items: items, width: width, copies: [.recommendation])
        e.user(.recommendation).update(from: embeddings.user(.recommendation), count: users * width)
        e.item(.recommendation).update(from: embeddings.item(.recommendation), count: items * width)
        // Start from the mean user.
        let newRow = e.user(.recommendation) + users * width
        for u in 0..<users { axpy(1 / Float(users), embeddings.user(.recommendation) + u * width, newRow, width) }
        let m = RecModel(backbone: backbone, embeddings: e)
        let g = IDGradients(model: m)
        let adam = Adam(count: width)
        var rng = SplitMix64(seed: seed)
        let userToken = m.firstUser + users
        for _ in 0..<steps where history.count > 1 {
            var order = history.shuffled(using: &rng)
            let hide = max(1, Int(Double(order.count) * 0.2))
            let hidden = Array(order.prefix(hide))
            order.removeFirst(hide)
            let prompt = corpora.finetunePrompt(userToken: userToken, items: order.map { m.firstItem + $0 })
            g.zero()
            _ = m.recommendationStep(prompts: [prompt], targets: [hidden], copy: .recommendation, other: nil, lambda: 0,
                                     dropout: false, seed: 0, grads: g)
            adam.update(newRow, grad: g.users.pointer.baseAddress! + users * width, lr: learningRate)
        }
        return m.recommend(user: users, history: history, corpora: corpora, k: k, exclude: Set(history), seed: seed)
    }

    /// Review text for (user, item) from the content model: the prompt `user_i wrote the following
    /// review for item_j:` with content embeddings, continued by the vocabulary head.
    public func review(user u: Int, item j: Int, tokenizer: IDTokenizer, options: SamplingOptions,
                       onToken: ((Int) -> Void)? = nil) -> [Int] {
        let prompt = tokenizer.encode("user_\(u) wrote the following review for item_\(j):")
        var x = [Float](repeating: 0, count: prompt.count * width)
        x.withUnsafeMutableBufferPointer { embed(prompt, copy: .content, into: $0.baseAddress!) }
        return backbone.generate(promptEmbeddings: x, lengths: [prompt.count], seen: [Set(prompt.filter { $0 < firstUser })],
                                 options: options) { _, t in onToken?(t) }[0]
    }
}
