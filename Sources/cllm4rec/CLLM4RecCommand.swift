import ArgumentParser

/// The `cllm4rec` command: a GPT-2 turned into a recommender (CLLM4Rec, Zhu et al., WWW 2024).
@main
struct CLLM4RecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cllm4rec",
        abstract: "Turn a pretrained GPT-2 into a recommender system (CLLM4Rec).",
        discussion: """
            Models live in folders in Hugging Face layout (config.json, model.safetensors, vocab.json, \
            merges.txt). Start with `cllm4rec import-gpt2 PATH` for real GPT-2 weights, or \
            `cllm4rec init-gpt2` for a randomly initialised one.
            """,
        version: "cllm4rec 0.1.0",
        subcommands: [ImportModel.self, InitModel.self, ImportGPT2.self, InitGPT2.self, Tokenize.self, Generate.self, Perplexity.self, MergeLoRA.self, ExtendVocab.self, Pretrain.self, Finetune.self, Evaluate.self, Serve.self])
}

