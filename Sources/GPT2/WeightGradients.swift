import Backbone

/// Gradients of GPT-2's trainable tensors: "transformer."-prefixed or bare Hugging Face names.
///
///     let g = try WeightGradients(config: config, patterns: ["ln_f.*", "h.11.mlp.c_fc.weight"])
///     model.weightGradients = g
///     _ = model.nextTokenLoss(batch, gradient: true)
///     g.gradient(named: "ln_f.weight")  // [C] values
public typealias WeightGradients = TensorGradients<GPT2Tensor>

extension GPT2Tensor: ModelTensor {
    public var index: Int { rawValue }
    public static func layers(_ config: GPT2Config) -> Int { config.nLayer }
    public static func canonical(_ name: String) -> String { unprefixed(name) }
    public static func describe(_ config: GPT2Config) -> String {
        "\(config.nLayer)-layer GPT-2 (names look like h.0.attn.c_attn.weight, h.3.ln_2.bias, ln_f.weight, wte.weight, wpe.weight)"
    }
}
