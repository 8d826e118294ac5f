import Architectures
import Backbone
import CLLM4Rec
import Foundation
import Tensor

#if canImport(Glibc)
import Glibc
#endif

/// Peak resident memory of this process, in MB.
func peakMemoryMB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Best sgemm throughput on GPT-2 small shapes, in GFLOP/s: the ceiling the engine is measured against.
func sgemmPeak() -> Double {
    var best = 0.0
    for (m, n, k) in [(512, 2304, 768), (512, 3072, 768), (512, 768, 3072)] {
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: k * n), c = FloatBuffer(count: m * n)
        for i in 0..<a.count { a[i] = Float(i % 7) * 0.01 }
        for i in 0..<b.count { b[i] = Float(i % 5) * 0.01 }
        for _ in 0..<3 {
            let t0 = now()
            for _ in 0..<10 {
                BLAS.gemm(m: m, n: n, k: k, a: a.pointer.baseAddress!, lda: k, b: b.pointer.baseAddress!, ldb: n, c: c.pointer.baseAddress!, ldc: n)
            }
            best = max(best, 10 * 2 * Double(m * n * k) / (now() - t0) / 1e9)
        }
    }
    return best
}

/// Matmul FLOPs per token of a forward pass at sequence length t (with the vocabulary head when
/// `head`); a frozen backward costs the same again (activation gradients only).
func forwardFLOPs(_ model: any LanguageBackbone, t: Int, head: Bool) -> Double {
    model.forwardFLOPs(sequenceLength: t, head: head)
}

func randomIds(_ n: Int, vocab: Int, seed: UInt64) -> [Int] {
    var g = SplitMix64(seed: seed)
    return (0..<n).map { _ in Int.random(in: 0..<vocab, using: &g) }
}

/// One configuration of the engine benchmark: its name (as the PyTorch side names it), the
/// tokens one run processes, the matmul FLOPs of one run, and the run itself.
struct EngineConfiguration {
    let name: String
    let group: String
    let tokens: Int
    let flops: Double
    let run: () -> Void
}

/// The configurations of the engine benchmark (issue: forward, frozen backward, LoRA, generation).
func engineConfigurations(_ model: any LanguageBackbone) throws -> [EngineConfiguration] {
    let vocab = model.vocabSize
    var configs: [EngineConfiguration] = []
    for (b, t) in [(4, 128), (1, 1024)] {
        let seqs = (0..<b).map { randomIds(t, vocab: vocab, seed: UInt64($0)) }
        configs.append(EngineConfiguration(name: "forward loss \(b)x\(t)", group: "forward", tokens: b * t,
                                           flops: Double(b * t) * forwardFLOPs(model, t: t, head: true)) {
            model.adapter = nil
            _ = model.nextTokenLoss(seqs, dropout: false, seed: 0, gradient: false)
        })
    }
    let lora = try model.makeAdapter(rank: 8, alpha: 16, dropout: 0.05, targets: model.defaultAdapterTargets)
    var g = SplitMix64(seed: 5)
    lora.initialize(using: &g)
    for rank in [0, 8] {
        for (b, t) in [(20, 64), (4, 128)] {
            let seqs = (0..<b).map { randomIds(t, vocab: vocab, seed: UInt64(100 + $0)) }
            var step: UInt64 = 0
            let label = rank > 0 ? "forward+backward LoRA r=\(rank) \(b)x\(t)" : "forward+backward \(b)x\(t)"
            configs.append(EngineConfiguration(name: label, group: "backward", tokens: b * t,
                                               flops: 2 * Double(b * t) * forwardFLOPs(model, t: t, head: true)) {
                model.adapter = rank > 0 ? lora : nil
                step += 1
                _ = model.nextTokenLoss(seqs, dropout: true, seed: step, gradient: true)
            })
        }
    }
    let prompt = randomIds(16, vocab: vocab, seed: 9)
    let options = SamplingOptions(temperature: 0, maxNewTokens: 128)
    configs.append(EngineConfiguration(name: "greedy generate 1x(16+128)", group: "generate", tokens: 128,
                                       flops: 128 * forwardFLOPs(model, t: 80, head: true)) {
        model.adapter = nil
        _ = model.generate(prompts: [prompt], options: options)
    })
    return configs
}

/// Runs every configuration (`only`: one group), best of `repeats` after a warm-up; or, with
/// `serve`, runs the configuration named on each line of standard input once and prints
/// "seconds <s>" (a warm-up is the caller's first call): `Tools/bench/engine.py` alternates it with
/// the PyTorch side run by run, so both see the same machine.
func benchmarkEngine(modelDir: String, threads: Int, repeats: Int, only: String?, serve: Bool = false) throws {
    let blas = try ProductLibrary.load()
    BLAS.threads = threads
    print("swift \(blas.summary)")
    let model = try ArchitectureRegistry.load(folder: modelDir).backbone
    print("swift model \(modelDir): \(model.architecture), \(model.layerCount) layers, width \(model.width)")
    let configs = try engineConfigurations(model)
    if serve {
        print("ready"); fflush(nil)
        while let line = readLine() {
            if line == "quit" { break }
            guard let config = configs.first(where: { $0.name == line }) else {
                print("error unknown configuration \(line)"); fflush(nil); continue
            }
            let t0 = now()
            config.run()
            print(String(format: "seconds %.6f peak_mb %.0f", now() - t0, peakMemoryMB())); fflush(nil)
        }
        return
    }
    let peak = sgemmPeak()
    print(String(format: "swift sgemm peak on GPT-2 shapes: %.1f GFLOP/s with %d threads", peak, threads))
    for config in configs where only == nil || only == config.group {
        config.run()  // warm-up: sizes the activation buffers
        var best = Double.infinity
        for _ in 0..<repeats { let t0 = now(); config.run(); best = min(best, now() - t0) }
        let gflops = config.flops / best / 1e9
        print(String(format: "swift %-34@ %8.1f tokens/s  %6.1f GFLOP/s (%4.1f%% of sgemm peak)  peak RSS %6.0f MB",
                     config.name as NSString, Double(config.tokens) / best, gflops, 100 * gflops / peak, peakMemoryMB()))
        fflush(nil)
    }
}
