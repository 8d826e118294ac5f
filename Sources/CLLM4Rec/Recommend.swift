import Backbone
import RecData
import Tensor
import Tokenizer

/// One recommended item.
public struct Recommendation: Sendable {
    public var item: Int
    public var score: Float
    public init(item: Int, score: Float) { self.item = item; self.score = score }

    /// The `k` best-scored items of `scores` (one per item) not in `excluded`, best first.
    static func top(_ scores: UnsafeBufferPointer<Float>, k: Int, excluding excluded: Set<Int>) -> [Recommendation] {
        RankingMetrics.topK(scores, k: k, excluded: excluded).map { Recommendation(item: $0, score: scores[$0]) }
    }
}

/// One recommendation asked of a model: who (a known user, or a new user's folded-in row), the
/// history its prompt holds, how many items, which are left out, and the seed that shuffles the
/// history.
public struct RecommendationRequest: Sendable {
    public enum Who: Sendable {
        case known(user: Int)
        /// A user the model never saw, with its recommendation embedding (from `foldIn`).
        case new(row: [Float])
    }
    public var who: Who
    public var history: [Int]
    public var k: Int
    public var exclude: Set<Int>
    public var seed: UInt64
    public init(who: Who, history: [Int], k: Int, exclude: Set<Int>, seed: UInt64) {
        self.who = who; self.history = history; self.k = k; self.exclude = exclude; self.seed = seed
    }
}

extension RecModel {
    /// The top `k` items for user `u`: the prompt holds the user's training items (shuffled with
    /// `seed`), scored by the recommendation head; `exclude` items are never returned.
    public func recommend(user u: Int, history: [Int], corpora: Corpora, k: Int, exclude: Set<Int>, seed: UInt64) -> [Recommendation] {
        recommend([RecommendationRequest(who: .known(user: u), history: history, k: k, exclude: exclude, seed: seed)], corpora: corpora)[0]
    }

    /// Answers several requests with one batched forward pass. Each prompt is shuffled with its own
    /// request's seed, so each answer is the one its request gets alone (a server batches requests
    /// that arrive together).
    public func recommend(_ requests: [RecommendationRequest], corpora: Corpora) -> [[Recommendation]] {
        recommendWithHeadInputs(requests, corpora: corpora).answers
    }

    /// `recommend`, with the recommendation head's input of each prompt ([requests.count, width]):
    /// a known user's prompt never changes, so a server keeps it and answers that user again with
    /// `recommend(headInput:)`, one product with the item table instead of a forward pass.
    public func recommendWithHeadInputs(_ requests: [RecommendationRequest], corpora: Corpora) -> (answers: [[Recommendation]], headInputs: [Float]) {
        guard !requests.isEmpty else { return ([], []) }
        let newRows = requests.compactMap { r -> [Float]? in if case .new(let row) = r.who { return row }; return nil }
        let m = newRows.isEmpty ? self : withNewUsers(newRows)
        var newIndex = 0
        let prompts = requests.map { r -> [Int] in
            var rng = SplitMix64(seed: r.seed)
            let token: Int
            switch r.who {
            case .known(let u): token = m.firstUser + u
            case .new: token = m.firstUser + users + newIndex; newIndex += 1
            }
            return corpora.finetunePrompt(userToken: token, items: r.history.shuffled(using: &rng).map { m.firstItem + $0 })
        }
        let (scores, inputs) = m.scoresAndHeadInputs(prompts: prompts, copy: .recommendation)
        let answers = scores.withUnsafeBufferPointer { all in
            requests.enumerated().map { b, r in
                Recommendation.top(UnsafeBufferPointer(rebasing: all[(b * items)..<((b + 1) * items)]), k: r.k, excluding: r.exclude)
            }
        }
        return (answers, inputs)
    }

    /// The top `k` items for a prompt whose recommendation-head input `x` (width floats, already
    /// conditioned) is known: scores = V_rec · x, one dot product per item, no forward pass. Reads
    /// only the item table, so it may run on any thread while the model works on others. Scores
    /// equal the forward pass's to float rounding (the summation order differs).
    public func recommend(headInput x: UnsafeBufferPointer<Float>, k: Int, exclude: Set<Int>) -> [Recommendation] {
        precondition(x.count == width, "a head input has \(width) floats, not \(x.count)")
        let c = width
        var scores = [Float](repeating: 0, count: items)
        let v = embeddings.item(.recommendation)
        scores.withUnsafeMutableBufferPointer { s in
            for j in 0..<items { s[j] = dot(v + j * c, x.baseAddress!, c) }
        }
        return scores.withUnsafeBufferPointer { Recommendation.top($0, k: k, excluding: exclude) }
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
