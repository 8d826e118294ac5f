import Tensor

/// A backbone's token table [V, C] and output head [V, C] (logits = hidden · headᵀ), and where their
/// gradients go when they are trained (nil: frozen). A tied head is the token table itself, and its
/// gradient the table's.
public struct TokenTables {
    public var embeddings: UnsafeMutablePointer<Float>
    public var head: UnsafePointer<Float>
    public var embeddingGradient: UnsafeMutablePointer<Float>?
    public var headGradient: UnsafeMutablePointer<Float>?

    public init(embeddings: UnsafeMutablePointer<Float>, head: UnsafePointer<Float>,
                embeddingGradient: UnsafeMutablePointer<Float>?, headGradient: UnsafeMutablePointer<Float>?) {
        self.embeddings = embeddings; self.head = head; self.embeddingGradient = embeddingGradient; self.headGradient = headGradient
    }
}

/// What CLLM4Rec needs from a causal language model, whatever its architecture: the seam between
/// the method and GPT-2, Llama, Qwen2 (one protocol for every model, as mlx-swift-lm's).
///
/// A backbone runs over *packed* sequences given as input embeddings (rows of one sequence follow
/// the previous one's; attention stays inside a sequence), so the caller can mix vocabulary rows
/// with its own (user and item tokens). It returns the final hidden states (after the last norm);
/// `backward` takes their gradient back to the input embeddings through the frozen weights.
public protocol LanguageBackbone: AnyObject {
    /// The architecture's name and sizes.
    var shape: BackboneShape { get }
    var layerCount: Int { get }
    /// The token table, the output head and their gradients.
    var tokenTables: TokenTables { get }

    /// An empty KV cache for `slots` sequences of up to `maxLength` positions.
    func makeCache(slots: Int, maxLength: Int) -> KVCache

    /// Final hidden states [N, C] of packed sequences (valid until the next call). `dropout`
    /// applies the architecture's training-mode dropout, seeded by `seed`; `forBackward` keeps the
    /// activations `backward` needs; with `cache`, sequence s continues cache slot `slots[s]`.
    func forward(inputs: UnsafePointer<Float>, lengths: [Int], dropout: Bool, seed: UInt64,
                 forBackward: Bool, cache: KVCache?, slots: [Int]?) -> UnsafeMutablePointer<Float>

    /// The gradient with respect to the last `forward(..., forBackward: true)`'s input embeddings
    /// [N, C], given the gradient at its hidden states (adapter gradients are accumulated).
    func backward(dHidden: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>

    /// The backbone's working memory: activations, gradients and the buffers of `lossOnRows`.
    var memory: ForwardMemory { get }

    /// The LoRA adapter every forward applies (nil: none). Only adapters this backbone made or
    /// loaded may be set.
    var adapter: LowRankAdapter? { get set }
    /// The projections LoRA can adapt (PEFT module names) and the ones a new adapter takes by default.
    var adapterModules: [AdapterModule] { get }
    var defaultAdapterTargets: [String] { get }
    /// A new adapter on `targets` (module names or their last component, as PEFT's
    /// `target_modules`), not yet initialised.
    func makeAdapter(rank: Int, alpha: Float, dropout: Float, targets: [String]) throws -> LowRankAdapter
    /// An adapter folder saved by `LowRankAdapter.save` or PEFT.
    func loadAdapter(path: String) throws -> LowRankAdapter

    /// Matrix-product FLOPs per token of a forward pass over sequences of `sequenceLength` tokens
    /// (causal attention: half the scores on average), the vocabulary head included when `head`:
    /// the throughput benchmarks' unit.
    func forwardFLOPs(sequenceLength t: Int, head: Bool) -> Double

    /// Logits [rows, V] of hidden states through the output head (default: the F32 head,
    /// `outputLogits`; a backbone with quantized weights decodes from them).
    func logits(hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>)
}

/// Why a backbone refused a request; the message names the value and what is allowed.
public enum BackboneError: Error, CustomStringConvertible, Equatable {
    case unknownAdapterTarget(name: String, architecture: String, available: [String])
    case unknownArchitecture(path: String, found: String, known: [String])
    case unmatchedTensorPattern(pattern: String, model: String)

    public var description: String {
        switch self {
        case let .unknownAdapterTarget(n, a, av):
            return "LoRA target \"\(n)\" is not a projection of \(a) (available: \(av.joined(separator: ", ")))"
        case let .unknownArchitecture(p, f, k):
            return "\(p): model type \"\(f)\" is not supported (known: \(k.joined(separator: ", ")))"
        case let .unmatchedTensorPattern(p, m):
            return "trainable tensor pattern \"\(p)\" matches no tensor of this \(m)"
        }
    }
}

extension LanguageBackbone {
    public var architecture: String { shape.architecture }
    public var width: Int { shape.width }
    public var vocabSize: Int { shape.vocabSize }
    public var contextLength: Int { shape.contextLength }
    public var tokenEmbeddings: UnsafeMutablePointer<Float> { tokenTables.embeddings }
    public var outputHead: UnsafePointer<Float> { tokenTables.head }
    public var tokenEmbeddingGradient: UnsafeMutablePointer<Float>? { tokenTables.embeddingGradient }
    public var outputHeadGradient: UnsafeMutablePointer<Float>? { tokenTables.headGradient }
    /// The buffers of `lossOnRows` (one set per backbone).
    public var rowLossBuffers: RowLossBuffers { memory.rowLoss }

    /// `forward` with inference defaults.
    @discardableResult
    public func forward(inputs: UnsafePointer<Float>, lengths: [Int], dropout: Bool = false, seed: UInt64 = 0,
                        forBackward: Bool = false) -> UnsafeMutablePointer<Float> {
        forward(inputs: inputs, lengths: lengths, dropout: dropout, seed: seed, forBackward: forBackward, cache: nil, slots: nil)
    }

    /// Copies the token-table rows of `ids` into `out` [ids.count, C].
    public func embedTokens(_ ids: [Int], into out: UnsafeMutablePointer<Float>) {
        let c = width, table = tokenEmbeddings
        for (r, id) in ids.enumerated() {
            precondition(id >= 0 && id < vocabSize, "token id \(id) outside the vocabulary of \(vocabSize)")
            (out + r * c).update(from: table + id * c, count: c)
        }
    }

    public func logits(hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        outputLogits(hidden: hidden, rows: rows, into: out)
    }

    /// Logits [rows, V] of hidden states through the F32 output head.
    public func outputLogits(hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        if rows == 1 {
            BLAS.matrixTimesVector(m: vocabSize, k: width, a: outputHead, lda: width, x: hidden, y: out)
        } else {
            BLAS.gemm(transB: true, m: rows, n: vocabSize, k: width, a: hidden, lda: width, b: outputHead, ldb: width, c: out, ldc: vocabSize)
        }
    }
}
