#!/usr/bin/env python3
"""Reference outputs of the real SmolLM2-135M-Instruct (GGUF, Q4_1) from Hugging Face transformers,
for the parity test LlamaTests/SmolLM2ParityTests (skipped unless CLLM4REC_SMOLLM2_REFERENCE is set).

transformers loads the GGUF with from_pretrained(dir, gguf_file=NAME): dequantized to float32, as
LlamaForCausalLM; its tokenizer from the same file. Writes OUT/reference.safetensors and
OUT/texts.json with:
  3 texts: token ids and full logits
  a 20 KB English text (Debian's GPL-3 text): token ids and mean next-token loss
  3 prompts: greedy continuations of 64 tokens (eos ignored)
Usage: python3 Tools/parity_smollm2.py GGUF_FILE OUT_DIR
Then:  CLLM4REC_SMOLLM2=Models/smollm2-135m CLLM4REC_SMOLLM2_REFERENCE=OUT_DIR swift test --filter SmolLM2Parity
Needs: pip install transformers gguf safetensors and a CPU torch wheel.
"""
import json, os, shutil, sys, tempfile, time

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

TEXTS = ["The movie was a masterpiece of suspense, and the ending",
         "user_12 rated these movies highly: Star Wars (1977), Fargo (1996), and Toy Story (1995). Next they watched",
         "In 1999, 3 of the 42 reviewers gave it 5 stars; the other 39 said:\n\n  \"not worth $12.50\"."]
PROMPTS = ["The movie was a masterpiece of suspense, and the ending",
           "Here is a short review of the film Casablanca:",
           "Q: What is the capital of France?\nA:"]


def main():
    gguf_path, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    d = tempfile.mkdtemp()
    os.symlink(os.path.abspath(gguf_path), os.path.join(d, "m.gguf"))
    torch.set_num_threads(2)
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(d, gguf_file="m.gguf")
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file="m.gguf", dtype=torch.float32).eval()
    print(f"loaded in {time.time() - t0:.1f} s")
    shutil.rmtree(d)
    ref, meta = {}, {"texts": TEXTS, "prompts": PROMPTS}
    with torch.no_grad():
        for i, t in enumerate(TEXTS):
            ids = tok(t, add_special_tokens=False)["input_ids"]
            ref[f"ids_{i}"] = torch.tensor(ids, dtype=torch.float32)
            ref[f"logits_{i}"] = model(torch.tensor([ids])).logits[0].float()
        long_text = open("/usr/share/common-licenses/GPL-3", encoding="utf-8").read()[:20000]
        meta["long_text"] = long_text
        ids = tok(long_text, add_special_tokens=False)["input_ids"]
        ref["long_ids"] = torch.tensor(ids, dtype=torch.float32)
        t0 = time.time()
        res = model(torch.tensor([ids]), labels=torch.tensor([ids]))
        ref["long_loss"] = res.loss.reshape(1).float()
        print(f"20 KB text: {len(ids)} tokens, loss {res.loss.item():.6f} nats/token ({time.time() - t0:.1f} s)")
        for i, p in enumerate(PROMPTS):
            ids = tok(p, add_special_tokens=False)["input_ids"]
            g = model.generate(torch.tensor([ids]), max_new_tokens=64, do_sample=False, eos_token_id=None, pad_token_id=0)
            ref[f"greedy_{i}"] = g[0, len(ids):].float()
            print(repr(tok.decode(g[0, len(ids):])))
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))
    json.dump(meta, open(os.path.join(out, "texts.json"), "w"))
    print("wrote", out)


if __name__ == "__main__":
    main()
