import Foundation
import Tensor

/// Benchmarks print measured throughput; `Tools/bench_*.py` run them next to the PyTorch /
/// Hugging Face reference on the same machine and inputs. Not run by `swift test`.
let usage = """
    usage: benchmarks tokenizer TEXTFILE [--vocab DIR] [--runs N]
           benchmarks engine --model DIR [--threads N] [--repeats N] [--only forward|backward|generate] [--serve]
                             [--quant-threading pool|dispatch]
               (--serve: runs the configuration named on each stdin line once, prints its seconds; Tools/bench/engine.py)
           benchmarks ease [--items 3000,6000] [--users 20000] [--per-user 30] [--threads N]
           benchmarks gemm [--rows 512] [--threads N]   (SmolLM2-135M's product shapes, both weight layouts)
           mpirun -np N benchmarks allreduce [--repeats 20]   (gradient-table sizes: MovieLens-100K/1M, Amazon Beauty; width 768)
    """

let args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    args.firstIndex(of: name).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
}

// A failure (a library that does not open, a missing model) is a message and exit status 1, not a trap.
do {
    switch args.first {
    case "tokenizer":
        guard args.count >= 2 else { print(usage); exit(2) }
        try benchmarkTokenizer(path: args[1], modelDir: option("--vocab") ?? "Models/gpt2", runs: Int(option("--runs") ?? "3") ?? 3)
    case "engine":
        guard let model = option("--model") else { print(usage); exit(2) }
        // How quantized products are spread over the threads (decoding from kept GGUF blocks):
        // the persistent pool (the default) or a dispatch per product, to compare the two.
        switch option("--quant-threading") {
        case nil, "pool": QuantizedMatrix.threading = .pool
        case "dispatch": QuantizedMatrix.threading = .dispatch
        case let other?: print("--quant-threading: '\(other)' is not pool or dispatch"); exit(2)
        }
        try benchmarkEngine(modelDir: model, threads: Int(option("--threads") ?? "2") ?? 2, repeats: Int(option("--repeats") ?? "3") ?? 3,
                            only: option("--only"), serve: args.contains("--serve"))
    case "ease":
        try benchmarkEASE(items: (option("--items") ?? "3000,6000").split(separator: ",").compactMap { Int($0) },
                          users: Int(option("--users") ?? "20000") ?? 20000, perUser: Int(option("--per-user") ?? "30") ?? 30,
                          threads: Int(option("--threads") ?? "2") ?? 2)
    case "gemm":
        try benchmarkGemmShapes(threads: Int(option("--threads") ?? "2") ?? 2, rows: Int(option("--rows") ?? "512") ?? 512,
                                shapes: [(576, 960), (576, 576), (576, 3072), (1536, 576), (576, 49152)])
    case "allreduce":
        // (users + items) x 768: MovieLens-100K as prepared here, MovieLens-1M and Amazon Beauty as in the paper's tables.
        benchmarkAllreduce(sizes: [("MovieLens-100K (938 + 1,008) x 768", (938 + 1008) * 768),
                                   ("MovieLens-1M (6,040 + 3,416) x 768", (6040 + 3416) * 768),
                                   ("Amazon Beauty (10,553 + 6,086) x 768", (10553 + 6086) * 768),
                                   ("LoRA r=8 on c_attn, GPT-2 small", 12 * 8 * (768 + 2304))],
                           repeats: Int(option("--repeats") ?? "20") ?? 20)
    default:
        print(usage)
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("benchmarks: \(error)\n".utf8))
    exit(1)
}
