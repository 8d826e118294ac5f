import ArgumentParser

/// The `cllm4rec` command: a GPT-2 or Llama-family model turned into a recommender (CLLM4Rec, Zhu et al., WWW 2024).
@main
struct CLLM4RecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cllm4rec",
        abstract: "Turn a pretrained language model (GPT-2, Llama, Qwen2) into a recommender system (CLLM4Rec).",
        discussion: """
            Models live in folders in Hugging Face layout (config.json, model.safetensors, tokenizer \
            files). Start with `cllm4rec import-model PATH` for real weights (a GGUF file such as \
            SmolLM2's, or a Hugging Face folder of GPT-2, Llama or Qwen2), or `cllm4rec init-model \
            --config NAME` for a randomly initialised one.
            """,
        version: "cllm4rec 0.1.0",
        subcommands: [ImportModel.self, InitModel.self, ImportGPT2.self, InitGPT2.self, Tokenize.self, Generate.self, Perplexity.self, MergeLoRA.self, ExtendVocab.self, Pretrain.self, Finetune.self, Evaluate.self, AddItems.self, Report.self, Serve.self])
}

