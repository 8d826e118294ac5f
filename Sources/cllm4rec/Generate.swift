import ArgumentParser
import Foundation
import Backbone
import CLLM4Rec
import RecData
import Tokenizer

/// `cllm4rec generate`: continue a prompt with the language model, streaming the text.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recommend items for a user or a history, write a review, or continue a text prompt.",
        discussion: """
            With a RECOMMENDER folder: `--user ID` lists the top --top-k items with titles and scores, \
            leaving out what the user has interacted with; `--history ID,ID,...` recommends for a history \
            the model never saw (a new user embedding is fitted, nothing is retrained); `--review --user ID \
            --item ID` writes a review with the content model, using the sampling flags (there --top-k is \
            the sampling cut-off). Without one: `--model DIR --prompt TEXT` continues the text with a KV \
            cache, streamed. Sampling follows Hugging Face `generate`: --temperature 0 is greedy; otherwise \
            the repetition penalty, temperature, top-k and top-p apply in that order before sampling from a \
            generator seeded by --seed. Generation stops at <|endoftext|> or after --max-new-tokens.
            """)

    @Argument(help: "A recommender folder (for --user, --history, --review).")
    var recommender: String?

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engine: EngineOptions

    @Option(help: "The text to continue (text mode).")
    var prompt: String?

    @Option(help: "External user id (recommendations, or the review's author).")
    var user: String?

    @Option(help: "External item id (the reviewed item).")
    var item: String?

    @Option(help: "Comma-separated external item ids: recommend for this history.")
    var history: String?

    @Flag(help: "Write a review of --item by --user.")
    var review = false

    @Option(help: "Most tokens to generate (>= 1; a review also stops at <|endoftext|>).")
    var maxNewTokens: Int = 50

    @Option(help: "Softmax temperature; 0 means greedy.")
    var temperature: Float = 1

    @Option(help: "Recommendations: how many items (>= 1, default 20). Text and reviews: sample only from the K most likely tokens (default 0: no limit).")
    var topK: Int?

    @Option(help: "--history: Adam steps that fit the new user's embedding (0: the mean user).")
    var foldInSteps: Int = FoldInOptions().steps

    @OptionGroup var foldIn: FoldInRate

    @Option(help: "Sample only from the most likely tokens whose probabilities sum to P (1: no limit).")
    var topP: Float = 1

    @Option(help: "Divide the logits of tokens already present by this (1: off; 1.2 is common).")
    var repetitionPenalty: Float = 1

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Flag(help: "Print the generated token ids instead of text.")
    var ids = false

    /// Whether this run lists items (top-k is then a count of items, not a sampling cut-off).
    var recommends: Bool { recommender != nil && !review }

    func validate() throws {
        try FlagRules.nonNegative(temperature, "--temperature")
        if recommends { try FlagRules.inRange(1...1_000_000, topK ?? 20, "--top-k") } else { try FlagRules.atLeast(0, topK, "--top-k") }
        try FlagRules.inRange(0...10_000, foldInSteps, "--fold-in-steps")
        if recommender == nil {
            guard prompt != nil else { throw ValidationError("give a recommender folder with --user/--history/--review, or --prompt TEXT") }
        } else {
            guard prompt == nil else { throw ValidationError("--prompt is for text mode, without a recommender folder") }
            if review { guard user != nil && item != nil else { throw ValidationError("--review needs --user and --item") } }
            else { guard (user == nil) != (history == nil) else { throw ValidationError("give exactly one of --user and --history") } }
        }
        try FlagRules.between(topP, 0, 1, "--top-p", includingUpper: true)
        try FlagRules.positive(repetitionPenalty, "--repetition-penalty")
        try FlagRules.inRange(1...1_000_000, maxNewTokens, "--max-new-tokens")
    }

    func sampling(maxNew: Int, stop: Int) -> SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK ?? 0, topP: topP, repetitionPenalty: repetitionPenalty, seed: seed,
                        maxNewTokens: maxNew, stopTokens: [stop])
    }

    func run() throws {
        try engine.apply()
        if let recommender { return try runRecommender(recommender) }
        let prompt = self.prompt!
        let (model, tok) = try modelOptions.load()
        let promptIds = tok.encode(prompt)
        guard !promptIds.isEmpty else { throw CLIError("the prompt is empty") }
        guard promptIds.count < model.contextLength else {
            throw CLIError("the prompt has \(promptIds.count) tokens; the model's context is \(model.contextLength)")
        }
        if let bad = promptIds.first(where: { $0 >= model.vocabSize }) {
            throw CLIError("the prompt's token \(bad) is outside this model's vocabulary of \(model.vocabSize)")
        }
        let options = sampling(maxNew: min(maxNewTokens, model.contextLength - promptIds.count), stop: tok.endOfTextId)
        if !ids { FileHandle.standardOutput.write(Data(prompt.utf8)) }
        let stream = TextStream(tokenizer: tok, enabled: !ids)
        let generated = model.generate(prompts: [promptIds], options: options) { _, token in stream.write(token) }
        if ids { print(generated[0].map(String.init).joined(separator: " ")) } else { stream.finish() }
    }

    func runRecommender(_ path: String) throws {
        let rec = try LoadedRecommender(path: path)
        if review {
            let u = try rec.user(user!), j = try rec.item(item!)
            let base = rec.tokenizer.base
            let promptLength = rec.tokenizer.encode(PromptTemplates.review(user: u, item: j)).count
            print("review by user \(user!) of item \(item!) \(rec.title(j)):")
            fflush(nil)
            let stream = TextStream(tokenizer: base, enabled: !ids)
            let out = rec.model.review(user: u, item: j, tokenizer: rec.tokenizer,
                                       options: sampling(maxNew: min(maxNewTokens, rec.model.backbone.contextLength - promptLength),
                                                         stop: base.endOfTextId)) { stream.write($0) }
            if ids { print(out.map(String.init).joined(separator: " ")) } else { stream.finish() }
            return
        }
        if !rec.prepareRecommendationRows() {
            print("note: \(path) is not finetuned yet; scoring with the collaborative embeddings")
        }
        let k = topK ?? 20
        let recs: [Recommendation]
        if let user {
            let u = try rec.user(user)
            let seen = rec.dataset.seen(user: u)
            recs = rec.model.recommend(user: u, history: rec.dataset.train[u], corpora: rec.corpora, k: k, exclude: seen, seed: seed)
            print("top \(k) for user \(user) (\(rec.dataset.userText[u] ?? "no profile"); \(seen.count) items seen, left out):")
        } else {
            let items = try history!.split(separator: ",").map { try rec.item(String($0).trimmingCharacters(in: .whitespaces)) }
            guard !items.isEmpty else { throw CLIError("--history is empty") }
            let options = FoldInOptions(steps: foldInSteps, learningRate: foldIn.foldInLr)
            recs = rec.model.recommendForNewUser(history: items, corpora: rec.corpora, k: k, foldIn: options, seed: seed)
            print("top \(k) for a new user with \(items.count) items (folded in with \(foldInSteps) steps, no retraining):")
        }
        for (r, x) in recs.enumerated() {
            print(String(format: "%3d. %@ %@ (score %.3f)", r + 1, rec.dataset.items[x.item].padding(toLength: 8, withPad: " ", startingAt: 0) as NSString,
                         rec.title(x.item) as NSString, x.score))
        }
    }
}

/// Writes generated tokens to standard output as they come, whole UTF-8 characters only (one
/// character may span several tokens).
final class TextStream {
    let tokenizer: BPETokenizer
    let enabled: Bool
    var pending: [UInt8] = []
    init(tokenizer: BPETokenizer, enabled: Bool) { self.tokenizer = tokenizer; self.enabled = enabled }

    func write(_ token: Int) {
        guard enabled, token != tokenizer.endOfTextId, token < tokenizer.count else { return }
        pending += tokenizer.tokenBytes[token]
        let n = completeUTF8Prefix(pending)
        if n > 0 { FileHandle.standardOutput.write(Data(pending[..<n])); pending.removeFirst(n) }
    }

    func finish() {
        guard enabled else { return }
        if !pending.isEmpty { FileHandle.standardOutput.write(Data(String(decoding: pending, as: UTF8.self).utf8)) }
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
