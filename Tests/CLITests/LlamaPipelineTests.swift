import Foundation
import TestSupport
import XCTest

/// The Llama family through the whole tool: import from GGUF and from a Hugging Face folder, a
/// random model from init-model, and the recommender pipeline on it.
final class LlamaPipelineTests: XCTestCase {
    var work = ""
    let fixtures = TestFixtures.folder(of: "LlamaTests")

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
            // --keep-quantized: the Q8_0 blocks kept for decoding, which then gives the tokens the
            // F32 weights (those blocks dequantized) give.
            let kept = try cli("import-model", fixtures + "/tiny-\(kind)/model-q8_0.gguf", "--output", "\(kind)-q8-kept", "--keep-quantized")
            XCTAssertTrue(kept.out.contains("kept for decoding: quantized.gguf (Q8_0 "), kept.out)
            XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/\(kind)-q8-kept/quantized.gguf"))
            let g3 = try cli("generate", "--model", "\(kind)-q8", "--prompt", "the cat", "--temperature", "0", "--max-new-tokens", "8", "--ids", "--threads", "1")
            let g4 = try cli("generate", "--model", "\(kind)-q8-kept", "--prompt", "the cat", "--temperature", "0", "--max-new-tokens", "8", "--ids", "--threads", "1")
            XCTAssertEqual(g3.out, g4.out)
            // perplexity --decode: on the F32 weights the packed forward's loss; on the kept blocks another.
            let loss: (String) -> Double = { Double($0.split(separator: " ")[0].dropFirst(5))! }
            let d = try cli("perplexity", "--model", "\(kind)-q8", "text.txt", "--threads", "1", "--decode")
            XCTAssertEqual(loss(d.out), loss(q.out), accuracy: 1e-5 * loss(q.out), d.out)
            let dk = try cli("perplexity", "--model", "\(kind)-q8-kept", "text.txt", "--threads", "1", "--decode")
            XCTAssertNotEqual(dk.out, d.out, "--decode multiplies with the kept Q8_0 blocks")
            XCTAssertEqual(loss(dk.out), loss(q.out), accuracy: 1e-2 * loss(q.out), dk.out)
        }
        let notGGUF = try cli("import-model", work + "/llama-hf-src", "--output", "kept-hf", "--keep-quantized", expect: 1)
        XCTAssertTrue(notGGUF.err.contains("--keep-quantized keeps a GGUF file's quantized tensors"), notGGUF.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/kept-hf"))
        // Not a model: named errors, nothing written.
        try "GGUFxxxx".write(toFile: work + "/bad.gguf", atomically: true, encoding: .utf8)
        let bad = try cli("import-model", "bad.gguf", "--output", "bad", expect: 1)
        XCTAssertTrue(bad.err.contains("bad.gguf") && bad.err.contains("GGUF version"), bad.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/bad"))
    }

    /// Extending and finetuning a llama-family backbone without --id-rows, --head-input or
    /// --lora-rank follow the measured recipe (vocabulary-mean rows, standardized head input, a
    /// rank-8 adapter on q_proj/v_proj) and say so; the paper's recipe is the flags away; a GPT-2
    /// backbone keeps the paper's.
    func testFinetuneDefaultsFollowTheFamilyRecipe() throws {
        let tok = TestFixtures.smollmTokenizer
        try cli("init-model", "--config", "tiny-llama", "--tokenizer", tok, "--seed", "2", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        let extended = try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0")
        XCTAssertTrue(extended.out.contains("rows vocabulary-mean (measured for llama-family backbones; the paper's: --id-rows normal)"), extended.out)
        func idRows(_ folder: String) throws -> String? {
            let m = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/\(folder)/recommender.json"))) as! [String: Any]
            return m["id_rows"] as? String
        }
        XCTAssertEqual(try idRows("rec"), "vocabulary-mean")
        let asked = try cli("extend-vocab", "data", "--model", "model", "--output", "asked", "--kcore", "0", "--id-rows", "normal")
        XCTAssertTrue(asked.out.contains("rows normal\n"), asked.out)
        XCTAssertEqual(try idRows("asked"), "normal")
        try cli("pretrain", "rec", "--warmup-epochs", "0", "--rounds", "1", "--batch", "4", "--accumulate", "1", "--threads", "1")
        try FileManager.default.copyItem(atPath: work + "/rec", toPath: work + "/paper")
        let measured = try cli("finetune", "rec", "--epochs", "1", "--batch", "4", "--accumulate", "1", "--content-every", "0", "--threads", "1")
        XCTAssertTrue(measured.out.contains("finetune: --head-input standardized --lora-rank 8, the recipe measured for llama-family backbones"), measured.out)
        func options(_ folder: String) throws -> [String: Any] {
            let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/\(folder)/training-finetune.json"))) as! [String: Any]
            return s["options"] as! [String: Any]
        }
        XCTAssertEqual(try options("rec")["headInputChoice"] as? String, "standardized")
        XCTAssertEqual(try options("rec")["loraRank"] as? Int, 8)
        let adapter = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/rec/adapter/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(adapter["r"] as? Int, 8)
        XCTAssertEqual(adapter["target_modules"] as? [String], ["self_attn.q_proj", "self_attn.v_proj"])
        // A second finetune goes on training the folder's adapter at its own rank.
        let again = try cli("finetune", "rec", "--epochs", "1", "--batch", "4", "--accumulate", "1", "--content-every", "0", "--threads", "1")
        XCTAssertTrue(again.out.contains("--lora-rank 8 (adapter/'s own)"), again.out)
        XCTAssertTrue(again.out.contains("adapter/: rank 8, continued"), again.out)
        // The paper's recipe, asked for.
        let paper = try cli("finetune", "paper", "--epochs", "1", "--batch", "4", "--accumulate", "1", "--content-every", "0",
                            "--head-input", "raw", "--lora-rank", "0", "--threads", "1")
        XCTAssertFalse(paper.out.contains("finetune: --"), paper.out)
        XCTAssertEqual(try options("paper")["headInputChoice"] as? String, "raw")
        XCTAssertEqual(try options("paper")["loraRank"] as? Int, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/paper/adapter"))

        // GPT-2: the paper's recipe, said as such.
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "gpt2")
        let gExtended = try cli("extend-vocab", "data", "--model", "gpt2", "--output", "g", "--kcore", "0")
        XCTAssertTrue(gExtended.out.contains("rows normal (the paper's; none measured for gpt2 backbones yet)"), gExtended.out)
        XCTAssertEqual(try idRows("g"), "normal")
        try cli("pretrain", "g", "--warmup-epochs", "0", "--rounds", "1", "--batch", "4", "--accumulate", "1", "--threads", "1")
        let g = try cli("finetune", "g", "--epochs", "1", "--batch", "4", "--accumulate", "1", "--content-every", "0", "--threads", "1")
        XCTAssertTrue(g.out.contains("finetune: --head-input raw --lora-rank 0, the paper's recipe (none measured for gpt2 backbones yet)"), g.out)
        XCTAssertEqual(try options("g")["headInputChoice"] as? String, "raw")
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/g/adapter"))
    }

    /// init-model → extend-vocab → pretrain → finetune (with LoRA on the Llama projections) →
    /// evaluate → generate, on a random tiny Llama with the SmolLM-style tokenizer.
    func testRecommenderOnARandomLlama() throws {
        let tok = TestFixtures.smollmTokenizer
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
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/rec/training-finetune.json"))) as! [String: Any]
        XCTAssertEqual((summary["options"] as? [String: Any])?["headInputChoice"] as? String, "standardized", "the llama family's default head input")
        let eval = try cli("evaluate", "rec", "--baseline", "popularity", "--threads", "1")
        XCTAssertTrue(eval.out.contains("cllm4rec (recommendation)"), eval.out)
        let top = try cli("generate", "rec", "--user", "100", "--top-k", "3", "--threads", "1")
        XCTAssertEqual(top.out.split(separator: "\n").filter { $0.contains("(score") }.count, 3, top.out)
        let review = try cli("generate", "rec", "--review", "--user", "100", "--item", "203", "--max-new-tokens", "4", "--seed", "3", "--threads", "1")
        XCTAssertTrue(review.out.hasPrefix("review by user 100 of item 203"), review.out)
    }
}
