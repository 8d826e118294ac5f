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

    /// Review text for (user, item) from the content model: the prompt `user_i wrote the following
    /// review for item_j:` with content embeddings, continued by the vocabulary head.
    public func review(user u: Int, item j: Int, tokenizer: IDTokenizer, options: SamplingOptions,
                       onToken: ((Int) -> Void)? = nil) -> [Int] {
        let prompt = tokenizer.encode(PromptTemplates.review(user: u, item: j))
        var x = [Float](repeating: 0, count: prompt.count * width)
        x.withUnsafeMutableBufferPointer { embed(prompt, copy: .content, into: $0.baseAddress!) }
        return backbone.generate(promptEmbeddings: x, lengths: [prompt.count], seen: [Set(prompt.filter { $0 < firstUser })],
                                 options: options) { _, t in onToken?(t) }[0]
    }
}
