#!/usr/bin/env python3
"""Decoding from a quantized GGUF file: this engine from the file's own blocks (`import-model
--keep-quantized`), this engine from the F32 weights, and llama.cpp (PyPI `llama-cpp-python`) on the
same file and thread count, in one run; then the numerics: greedy tokens of both engines for three
prompts of 64 tokens.

    python3 Tools/bench/decode.py GGUF [--threads 2] [--pairs 5]

Speed: greedy generation of --new-tokens after a 16-token prompt, batch 1, prompt included on both
sides (at 2+ threads also the quantized path with a dispatch per product instead of its persistent
pool); each side run alternately (ABBA) --pairs times after a warm-up, median tokens/s. The engine
runs in its own process (`benchmarks engine --serve --only generate`); llama.cpp in this one, its
greedy through its own sampler (`Llama.generate`, temperature 0). Needs llama-cpp-python,
numpy; the release build of this package (`swift build -c release`).
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bin_dir():
    return subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


def import_folders(gguf, work):
    cli = os.path.join(bin_dir(), "cllm4rec")
    f32, kept = os.path.join(work, "f32"), os.path.join(work, "kept")
    subprocess.run([cli, "import-model", gguf, "--output", f32], check=True, capture_output=True)
    out = subprocess.run([cli, "import-model", gguf, "--output", kept, "--keep-quantized"], check=True, capture_output=True, text=True).stdout
    print("".join(l + "\n" for l in out.splitlines() if "kept for decoding" in l), end="")
    return f32, kept


class Engine:
    """`benchmarks engine --serve`: runs a named configuration per stdin line, prints its seconds."""
    def __init__(self, folder, threads, quant_threading="pool"):
        argv = [os.path.join(bin_dir(), "benchmarks"), "engine", "--model", folder, "--threads", str(threads), "--serve",
                "--quant-threading", quant_threading]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        while True:
            line = self.p.stdout.readline()
            if not line or line.startswith("ready"):
                break

    def seconds(self, name):
        self.p.stdin.write(name + "\n"); self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line.startswith("seconds"), line
        return float(line.split()[1])

    def close(self):
        self.p.stdin.write("quit\n"); self.p.stdin.flush(); self.p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=128)
    a = ap.parse_args()
    import numpy as np
    from llama_cpp import Llama

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}, {a.threads} threads; {a.gguf}")
    work = tempfile.mkdtemp()
    f32, kept = import_folders(a.gguf, work)
    llm = Llama(model_path=a.gguf, n_threads=a.threads, n_threads_batch=a.threads, n_ctx=1024, verbose=False)
    prompt = list(np.random.default_rng(9).integers(0, llm.n_vocab(), 16))

    def llama_generate(tokens, n):
        # Greedy through llama.cpp's own sampler (temperature 0, no repetition penalty).
        out = []
        for t in llm.generate(tokens, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
            out.append(int(t))
            if len(out) == n:
                break
        return out

    name = "greedy generate 1x(16+128)"
    assert a.new_tokens == 128, "the engine's configuration generates 128 tokens"
    engines = {"this engine, quantized": Engine(kept, a.threads), "this engine, F32": Engine(f32, a.threads)}
    if a.threads > 1:
        # The same blocks with a dispatch per product instead of the persistent pool (the default).
        engines["this engine, quantized, dispatch"] = Engine(kept, a.threads, "dispatch")
    runs = {k: [] for k in list(engines) + ["llama.cpp"]}
    for e in engines.values():
        e.seconds(name)
    llama_generate(prompt, 8)
    for i in range(a.pairs):
        order = list(runs) if i % 2 == 0 else list(reversed(runs))
        for k in order:
            if k == "llama.cpp":
                t0 = time.perf_counter(); llama_generate(prompt, a.new_tokens); runs[k].append(time.perf_counter() - t0)
            else:
                runs[k].append(engines[k].seconds(name))
            time.sleep(0.5)
    for e in engines.values():
        e.close()
    ref = statistics.median(runs["llama.cpp"])
    print(f"{'greedy, 16-token prompt + ' + str(a.new_tokens):40s} {'tokens/s':>9s} {'vs llama.cpp':>13s}")
    for k, s in runs.items():
        print(f"{k:40s} {a.new_tokens / statistics.median(s):9.1f} {ref / statistics.median(s):12.2f}x")

    # Numerics: greedy tokens of three prompts, 64 tokens each.
    cli = os.path.join(bin_dir(), "cllm4rec")
    for text in ["The capital of France is", "Once upon a time, a small robot", "def fibonacci(n):"]:
        ids = subprocess.run([cli, "tokenize", "--model", kept], input=text, capture_output=True, text=True, check=True).stdout.split()
        ours = subprocess.run([cli, "generate", "--model", kept, "--prompt", text, "--temperature", "0", "--max-new-tokens", "64",
                               "--ids", "--threads", str(a.threads)], capture_output=True, text=True, check=True).stdout.split()
        theirs = llama_generate([int(t) for t in ids], 64)
        same = next((i for i, (x, y) in enumerate(zip([int(t) for t in ours[-64:]], theirs)) if x != y), 64)
        print(f"greedy {text!r}: {same} of 64 tokens equal to llama.cpp's")


if __name__ == "__main__":
    main()
