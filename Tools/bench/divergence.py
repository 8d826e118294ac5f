#!/usr/bin/env python3
"""Where this engine's greedy tokens part from llama.cpp's on a quantized GGUF file, and by how much
the two candidates differ there in a third engine's view: transformers on the dequantized F32
weights (the weights both quantized engines approximate).

    python3 Tools/bench/divergence.py GGUF [--tokens 64] [--threads 1]

For each of decode.py's three prompts: this engine's greedy tokens from the file's own blocks
(`import-model --keep-quantized`, `generate --temperature 0`) and llama.cpp's (its own sampler,
temperature 0); at the first step where they differ, transformers' logits for the common prefix:
both candidates' logits, their gap, and the logit range of that step. A gap that is a small part of
the range is a near tie that either engine's rounding (8-bit activations, llama.cpp's F16 KV cache)
can turn. Needs llama-cpp-python, numpy, torch and transformers; the release build of this package.
"""
import argparse, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode import bin_dir, import_folders  # noqa: E402

PROMPTS = ["The capital of France is", "Once upon a time, a small robot", "def fibonacci(n):"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}, {a.threads} threads; {a.gguf}")
    work = tempfile.mkdtemp()
    f32, kept = import_folders(a.gguf, work)
    llm = Llama(model_path=a.gguf, n_threads=a.threads, n_ctx=1024, verbose=False)
    ref = AutoModelForCausalLM.from_pretrained(f32, dtype=torch.float32).eval()
    cli = os.path.join(bin_dir(), "cllm4rec")
    for text in PROMPTS:
        ids = [int(t) for t in subprocess.run([cli, "tokenize", "--model", kept], input=text, capture_output=True, text=True,
                                              check=True).stdout.split()]
        ours = [int(t) for t in subprocess.run([cli, "generate", "--model", kept, "--prompt", text, "--temperature", "0",
                                                "--max-new-tokens", str(a.tokens), "--ids", "--threads", str(a.threads)],
                                               capture_output=True, text=True, check=True).stdout.split()][-a.tokens:]
        theirs = []
        for t in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
            theirs.append(int(t))
            if len(theirs) == a.tokens:
                break
        step = next((i for i, (x, y) in enumerate(zip(ours, theirs)) if x != y), None)
        if step is None:
            print(f"{text!r}: all {a.tokens} tokens equal")
            continue
        with torch.no_grad():
            logits = ref(torch.tensor([ids + ours[:step]])).logits[0, -1].double()
        lo, hi = float(logits.min()), float(logits.max())
        o, t = float(logits[ours[step]]), float(logits[theirs[step]])
        rank = int((logits > max(o, t)).sum())
        print(f"{text!r}: equal for {step} of {a.tokens}; step {step}: this engine {ours[step]} (logit {o:.3f}), "
              f"llama.cpp {theirs[step]} (logit {t:.3f}); transformers F32 gap {abs(o - t):.3f} in a range of {hi - lo:.1f}, "
              f"{rank} tokens above both; transformers picks {int(logits.argmax())}")


if __name__ == "__main__":
    main()
