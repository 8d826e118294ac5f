import Backbone

/// Gradients of the Llama family's trainable tensors, by Hugging Face name (`fnmatch` patterns:
/// "model.layers.*.input_layernorm.weight").
public typealias LlamaWeightGradients = TensorGradients<LlamaTensor>

extension LlamaTensor: ModelTensor {
    public var index: Int { rawValue }
    public static func layers(_ config: LlamaConfig) -> Int { config.numHiddenLayers }
    public static func describe(_ config: LlamaConfig) -> String {
        "\(config.numHiddenLayers)-layer model (names look like model.layers.0.self_attn.q_proj.weight, model.norm.weight, model.embed_tokens.weight)"
    }
}
