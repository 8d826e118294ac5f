import Foundation
import XCTest

/// The Llama family through the whole tool: import from GGUF and from a Hugging Face folder, a
/// random model from init-model, and the recommender pipeline on it.
final class LlamaPipelineTests: XCTestCase {
    var work = ""
    let fixtures = CLI.repo + "/Tests/LlamaTests/Fixtures"

    override func setUp() { work = temporaryFolder(self, "llama-pipeline") }

    func cli(_ args: String..., expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let r = try CLI.run(args, in: work)
        XCTAssertEqual(r.status, status, "cllm4rec \(args.joined(separator: " ")):\n\(r.all)", file: file, line: line)
        return r
    }

    /// The same tiny Llama from its GGUF file (F32 and Q8_0) and from its Hugging Face folder: the
    /// imported folders compute the same perplexity and the same greedy continuation.
    func testImportGGUFAndHuggingFaceFolder() throws {
        for kind in ["llama", "qwen2"] {
            let gguf = try cli("import-model", fixtures + "/tiny-\(kind)/model-f32.gguf", "--output", "\(kind)-gguf")
            XCTAssertTrue(gguf.out.contains("(gguf v3, F32): \(kind)"), gguf.out)
            XCTAssertTrue(gguf.out.contains("pre-tokenizer smollm"), gguf.out)
            try cli("import-model", fixtures + "/tiny-\(kind)/model-q8_0.gguf", "--output", "\(kind)-q8")
            // The Hugging Face folder has no tokenizer.json: give it the one the GGUF import wrote.
            let hf = work + "/\(kind)-hf-src"
            try FileManager.default.copyItem(atPath: fixtures + "/tiny-\(kind)/hf", toPath: hf)
            try FileManager.default.copyItem(atPath: work + "/\(kind)-gguf/tokenizer.json", toPath: hf + "/tokenizer.json")
            let imported = try cli("import-model", hf, "--output", "\(kind)-hf")
            XCTAssertTrue(imported.out.contains("(safetensors, F32): \(kind)"), imported.out)
            try "the cat sat on the mat, and the dog ate 42 apples in 2026.".write(toFile: work + "/text.txt", atomically: true, encoding: .utf8)
            let a = try cli("perplexity", "--model", "\(kind)-gguf", "text.txt", "--threads", "1")
            let b = try cli("perplexity", "--model", "\(kind)-hf", "text.txt", "--threads", "1")
            XCTAssertEqual(a.out, b.out)
            XCTAssertTrue(a.out.hasPrefix("loss="), a.out)
            let q = try cli("perplexity", "--model", "\(kind)-q8", "text.txt", "--threads", "1")
            XCTAssertNotEqual(q.out, a.out, "Q8_0 weights are not the F32 ones")
            let g1 = try cli("generate", "--model", "\(kind)-gguf", "--prompt", "the cat", "--temperature", "0", "--max-new-tokens", "8", "--ids", "--threads", "1")
            let g2 = try cli("generate", "--model", "\(kind)-hf", "--prompt", "the cat", "--temperature", "0", "--max-new-tokens", "8", "--ids", "--threads", "1")
            XCTAssertEqual(g1.out, g2.out)
        }
        // Not a model: named errors, nothing written.
        try "GGUFxxxx".write(toFile: work + "/bad.gguf", atomically: true, encoding: .utf8)
        let bad = try cli("import-model", "bad.gguf", "--output", "bad", expect: 1)
        XCTAssertTrue(bad.err.contains("bad.gguf") && bad.err.contains("GGUF version"), bad.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/bad"))
    }

    /// init-model → extend-vocab → pretrain → finetune (with LoRA on the Llama projections) →
    /// evaluate → generate, on a random tiny Llama with the SmolLM-style tokenizer.
    func testRecommenderOnARandomLlama() throws {
        let tok = CLI.repo + "/Tests/TokenizerTests/Fixtures/smollm-style"
        let made = try cli("init-model", "--config", "tiny-llama", "--tokenizer", tok, "--seed", "2", "--output", "model")
        XCTAssertTrue(made.out.contains("random llama tiny-llama"), made.out)
        try writeTinyDataset(to: work + "/data")
        let ev = try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0")
        XCTAssertTrue(ev.out.contains("llama backbone"), ev.out)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/rec/recommender.json"))) as! [String: Any]
        XCTAssertEqual(manifest["architecture"] as? String, "llama")
        try cli("pretrain", "rec", "--warmup-epochs", "1", "--rounds", "1", "--batch", "4", "--accumulate", "1", "--threads", "1")
        let wrong = try cli("finetune", "rec", "--epochs", "1", "--lora-rank", "2", "--lora-targets", "c_attn", "--threads", "1", expect: 1)
        XCTAssertTrue(wrong.err.contains("\"c_attn\" is not a projection of llama"), wrong.err)
        try cli("finetune", "rec", "--epochs", "2", "--batch", "4", "--accumulate", "1", "--lr", "1e-2", "--lora-rank", "2",
                "--lora-targets", "q_proj,v_proj,down_proj", "--threads", "1")
        let adapter = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/rec/adapter/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(adapter["target_modules"] as? [String], ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"])
        let eval = try cli("evaluate", "rec", "--baseline", "popularity", "--threads", "1")
        XCTAssertTrue(eval.out.contains("cllm4rec (recommendation)"), eval.out)
        let top = try cli("generate", "rec", "--user", "100", "--top-k", "3", "--threads", "1")
        XCTAssertEqual(top.out.split(separator: "\n").filter { $0.contains("(score") }.count, 3, top.out)
        let review = try cli("generate", "rec", "--review", "--user", "100", "--item", "203", "--max-new-tokens", "4", "--seed", "3", "--threads", "1")
        XCTAssertTrue(review.out.hasPrefix("review by user 100 of item 203"), review.out)
    }
}
