#!/usr/bin/env python3
"""Perplexity of a quantized GGUF file: this engine's decoding path on the file's own blocks
(`import-model --keep-quantized`, `cllm4rec perplexity --decode`), this engine's F32 forward on the
dequantized weights, llama.cpp (PyPI `llama-cpp-python`) on the same file, and transformers on the
dequantized weights (the F32 folder) when it is installed, all on the same token ids and windows.

    python3 Tools/bench/perplexity.py GGUF [--text FILE] [--window 512] [--threads 2]

The text: by default the first 20,000 bytes of Debian's /usr/share/common-licenses/GPL-3 (present
on every Debian). Its tokens (this engine's tokenizer, `cllm4rec tokenize`) are cut into consecutive
windows of --window tokens; within each, every token but the first is predicted from those before it.
llama.cpp evaluates each window in one batch (`logits_all`); transformers likewise, in float32.
Needs llama-cpp-python and numpy; the release build of this package (`swift build -c release`).
"""
import argparse, math, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode import bin_dir, import_folders  # noqa: E402


def windows(ids, w):
    return [ids[s:s + w] for s in range(0, len(ids), w) if len(ids[s:s + w]) >= 2]


def nll(logits, tokens):
    """Summed -log softmax(logits[i])[tokens[i + 1]] over i, in float64."""
    import numpy as np
    x = np.asarray(logits[:len(tokens) - 1], dtype=np.float64)
    top = x.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
    return float((lse - x[np.arange(len(tokens) - 1), tokens[1:]]).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("--text", default=None)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    from llama_cpp import Llama

    work = tempfile.mkdtemp()
    text_path = a.text
    if text_path is None:
        text_path = os.path.join(work, "gpl-3-20k.txt")
        with open("/usr/share/common-licenses/GPL-3", "rb") as f, open(text_path, "wb") as out:
            out.write(f.read(20000))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}, {a.threads} threads; {a.gguf}; text {text_path} ({os.path.getsize(text_path)} bytes), windows of {a.window}")
    f32, kept = import_folders(a.gguf, work)
    cli = os.path.join(bin_dir(), "cllm4rec")
    with open(text_path, "rb") as f:
        ids = [int(t) for t in subprocess.run([cli, "tokenize", "--model", kept], stdin=f, capture_output=True, check=True).stdout.split()]
    chunks = windows(ids, a.window)
    predicted = sum(len(c) - 1 for c in chunks)
    rows = []

    def ours(folder, extra, label):
        out = subprocess.run([cli, "perplexity", "--model", folder, text_path, "--window", str(a.window), "--threads", str(a.threads)] + extra,
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        fields = dict(kv.split("=") for kv in out.split())
        assert int(fields["tokens"]) == predicted, (out, predicted)
        rows.append((label, float(fields["loss"])))

    ours(kept, ["--decode"], "this engine, quantized blocks (decoding path)")
    ours(f32, [], "this engine, F32 dequantized (one forward per window)")

    llm = Llama(model_path=a.gguf, n_ctx=a.window, n_batch=a.window, n_ubatch=a.window, logits_all=True,
                n_threads=a.threads, n_threads_batch=a.threads, verbose=False)
    total = 0.0
    for c in chunks:
        llm.reset()
        llm.eval(c)
        total += nll(llm.scores, c)
    rows.append(("llama.cpp, quantized (one batch per window)", total / predicted))

    try:
        import torch
        from transformers import AutoModelForCausalLM
        # The F32 folder this engine imported (Hugging Face names and config.json): the same dequantized weights.
        model = AutoModelForCausalLM.from_pretrained(f32, dtype=torch.float32).eval()
        torch.set_num_threads(a.threads)
        total = 0.0
        with torch.no_grad():
            for c in chunks:
                total += nll(model(torch.tensor([c])).logits[0].numpy(), c)
        rows.append(("transformers, F32 dequantized", total / predicted))
    except (ImportError, OSError, ValueError) as e:
        print(f"(transformers left out: {e})")

    ref = next(l for k, l in rows if k.startswith("llama.cpp"))
    print(f"{predicted} predicted tokens")
    print(f"{'':52s} {'nats/token':>10s} {'perplexity':>10s} {'vs llama.cpp':>13s}")
    for k, l in rows:
        print(f"{k:52s} {l:10.5f} {math.exp(l):10.4f} {100 * (math.exp(l) / math.exp(ref) - 1):+12.2f}%")


if __name__ == "__main__":
    main()
