import Foundation
import TestSupport
import XCTest

/// Every numeric flag outside its range is refused before any work starts: exit code 64, a message
/// naming the flag, and nothing written.
final class BadFlagTests: XCTestCase {
    func testOutOfRangeFlagsAreRefused() throws {
        let work = temporaryFolder(self, "badflags")
        XCTAssertEqual(try CLI.run(["init-gpt2", "--config", "tiny", "--output", "model"], in: work).status, 0)
        try writeTinyDataset(to: work + "/data")
        XCTAssertEqual(try CLI.run(["extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0"], in: work).status, 0)
        let before = try snapshot(work)
        let cases: [([String], String)] = [
            (["evaluate", "rec", "--batch", "0"], "--batch"),
            (["evaluate", "rec", "--k", "0"], "--k"),
            (["evaluate", "rec", "--k", "20,x"], "--k"),
            (["evaluate", "rec", "--ndcg-k", ""], "--ndcg-k"),
            (["evaluate", "rec", "--ease-lambda", "0"], "--ease-lambda"),
            (["evaluate", "rec", "--baseline", "random"], "--baseline"),
            (["evaluate", "rec", "--split", "train"], "--split"),
            (["evaluate", "rec", "--baseline", "tfidf-knn"], "--baseline"),
            (["evaluate", "rec", "--split", "heldout-users", "--dump", "x.safetensors"], "--dump"),
            (["evaluate", "rec", "--dump", "no-such-folder/x.safetensors"], "--dump"),
            (["evaluate", "rec", "--split", "cold-items", "--cold-rows", "average"], "--cold-rows"),
            (["evaluate", "rec", "--split", "cold-items", "--cold-ridge", "1,0"], "--cold-ridge"),
            (["evaluate", "rec", "--copy", "content"], "--copy"),
            (["evaluate", "rec", "--fold-in-steps=-1"], "--fold-in-steps"),
            (["evaluate", "rec", "--fold-in-lr", "nan"], "--fold-in-lr"),
            (["evaluate", "rec", "--threads", "0"], "--threads"),
            (["finetune", "rec", "--evaluation-batch", "0"], "--evaluation-batch"),
            (["finetune", "rec", "--lr=-1"], "--lr"),
            (["finetune", "rec", "--max-main-tokens=-3"], "--max-main-tokens"),
            (["finetune", "rec", "--mask-fraction", "nan"], "--mask-fraction"),
            (["finetune", "rec", "--mask-fraction", "1"], "--mask-fraction"),
            (["finetune", "rec", "--epochs", "0"], "--epochs"),
            (["finetune", "rec", "--content-every=-1"], "--content-every"),
            (["finetune", "rec", "--validate-every", "0"], "--validate-every"),
            (["finetune", "rec", "--target", "some"], "--target"),
            (["pretrain", "rec", "--warmup-epochs=-1"], "--warmup-epochs"),
            (["pretrain", "rec", "--rounds=-2"], "--rounds"),
            (["pretrain", "rec", "--content-every=-1"], "--content-every"),
            (["pretrain", "rec", "--head-input", "whitened"], "--head-input"),
            (["pretrain", "rec", "--head-input", "sideways"], "--head-input"),
            (["pretrain", "rec", "--rounds", "0", "--warmup-epochs", "0"], "--warmup-epochs and --rounds"),
            (["pretrain", "rec", "--lr", "inf"], "--lr"),
            (["pretrain", "rec", "--lambda=-1"], "--lambda"),
            (["pretrain", "rec", "--batch", "0"], "--batch"),
            (["pretrain", "rec", "--accumulate", "0"], "--accumulate"),
            (["pretrain", "rec", "--lora-rank=-1"], "--lora-rank"),
            (["pretrain", "rec", "--lora-alpha", "0"], "--lora-alpha"),
            (["pretrain", "rec", "--lora-dropout", "1"], "--lora-dropout"),
            (["finetune", "rec", "--adapter-lr", "0"], "--adapter-lr"),
            (["pretrain", "rec", "--lora-targets", "c_attn,qq_proj"], "--lora-targets"),
            (["pretrain", "rec", "--item-order", "random"], "--item-order"),
            (["generate", "rec", "--user", "100", "--top-k", "0"], "--top-k"),
            (["generate", "rec", "--user", "100", "--temperature=-1"], "--temperature"),
            (["generate", "rec", "--review", "--user", "100", "--item", "200", "--top-p", "0"], "--top-p"),
            (["generate", "rec", "--review", "--user", "100", "--item", "200", "--top-p", "1.5"], "--top-p"),
            (["generate", "rec", "--review", "--user", "100", "--item", "200", "--repetition-penalty", "0"], "--repetition-penalty"),
            (["generate", "rec", "--review", "--user", "100", "--item", "200", "--max-new-tokens", "0"], "--max-new-tokens"),
            (["generate", "rec", "--history", "200", "--fold-in-steps=-5"], "--fold-in-steps"),
            (["generate", "rec", "--history", "200", "--fold-in-lr", "0"], "--fold-in-lr"),
            (["extend-vocab", "data", "--model", "model", "--output", "new", "--kcore=-1"], "--kcore"),
            (["extend-vocab", "data", "--model", "model", "--output", "new", "--heldout-users=-1"], "--heldout-users"),
            (["extend-vocab", "data", "--model", "model", "--output", "new", "--min-rating", "nan"], "--min-rating"),
            (["extend-vocab", "data", "--model", "model", "--output", "new", "--cold-items", "1"], "--cold-items"),
            (["extend-vocab", "data", "--model", "model", "--output", "new", "--cold-items=-0.2"], "--cold-items"),
            (["extend-vocab", "data", "--model", "model", "--output", "new", "--cold-items", "nan"], "--cold-items"),
            (["extend-vocab", "data", "--model", "model", "--output", "new", "--init", "zeros"], "--init"),
            (["extend-vocab", "data", "--model", "model", "--output", "new", "--format", "parquet"], "--format"),
            (["perplexity", "--model", "model", "--window", "1", "data/tiny.inter"], "--window"),
            (["init-gpt2", "--config", "huge", "--output", "new"], "--config"),
        ]
        for (args, flag) in cases {
            let r = try CLI.run(args, in: work)
            XCTAssertEqual(r.status, 64, "cllm4rec \(args.joined(separator: " ")) exited \(r.status):\n\(r.all)")
            XCTAssertTrue(r.err.contains(flag), "cllm4rec \(args.joined(separator: " ")): the message does not name \(flag):\n\(r.err)")
        }
        XCTAssertEqual(try snapshot(work), before, "a refused command wrote something")
    }

    /// The product library's variables are checked like flags: a value that names nothing is an
    /// error message naming the variable, before any work, for every command that multiplies.
    func testBadProductLibraryVariablesAreRefused() throws {
        let work = temporaryFolder(self, "badblas")
        XCTAssertEqual(try CLI.run(["init-gpt2", "--config", "tiny", "--output", "model"], in: work).status, 0)
        try writeTinyDataset(to: work + "/data")
        let before = try snapshot(work)
        let commands: [[String]] = [
            ["perplexity", "--model", "model", "data/tiny.inter"],
            ["merge-lora", "--model", "model", "--adapter", "model", "--output", "merged"],
        ]
        let variables: [([String: String], String)] = [
            (["CLLM4REC_BLAS": "atlas"], "CLLM4REC_BLAS=atlas: not a product library; use auto, openblas or mkl"),
            // `auto` named, as the test run's own environment may say `openblas` (which never looks for MKL).
            (["CLLM4REC_BLAS": "auto", "CLLM4REC_MKL": "/no/such/libmkl_rt.so.3"], "CLLM4REC_MKL=/no/such/libmkl_rt.so.3: no such file"),
        ]
        for args in commands {
            for (environment, message) in variables {
                let r = try CLI.run(args, in: work, environment: environment)
                XCTAssertNotEqual(r.status, 0, "cllm4rec \(args.joined(separator: " ")) with \(environment) succeeded")
                XCTAssertTrue(r.err.contains(message), "cllm4rec \(args.joined(separator: " ")) with \(environment):\n\(r.all)")
                XCTAssertFalse(r.all.contains("Fatal error"), r.all)
            }
        }
        XCTAssertEqual(try snapshot(work), before, "a refused command wrote something")
    }
}
