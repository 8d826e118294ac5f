#!/usr/bin/env python3
"""Tokenizer speed: this project's GPT-2 tokenizer next to Hugging Face `tokenizers` (Rust), single
thread, on the same few MB of mixed text, in one run.

    python3 Tools/bench/tokenizer.py [--mb 4]

Builds the release benchmark binary (swift build -c release --product benchmarks), writes the text to
/tmp (seeded: words drawn from GPT-2's own vocabulary with a Zipf law, numbers, punctuation, newlines,
accented words, CJK and emoji), then prints MB/s for both. Needs `pip install tokenizers`.
"""
import argparse, json, os, random, subprocess, sys, time

os.environ["RAYON_NUM_THREADS"] = "1"          # single-threaded Hugging Face
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers


def mixed_text(mb, seed=7):
    vocab = json.load(open("Models/gpt2/vocab.json"))
    words = [t[1:] for t in vocab if t.startswith("\u0120") and t[1:].isalpha() and t[1:].isascii()]
    rng = random.Random(seed)
    weights = [1.0 / (k + 10) for k in range(len(words))]
    extras = ["café", "naïve", "日本語", "中文", "😀", "👍🏽", "Straße", "Привет", "don't", "it's", "we'll"]
    out, size = [], 0
    while size < mb * 1e6:
        sent = rng.choices(words, weights, k=rng.randint(5, 25))
        if rng.random() < 0.3: sent.insert(rng.randrange(len(sent)), str(rng.randint(0, 99999)))
        if rng.random() < 0.2: sent.insert(rng.randrange(len(sent)), rng.choice(extras))
        s = " ".join(sent).capitalize() + rng.choice([".", ".", "!", "?", ",", ";", " -"]) + rng.choice([" ", " ", "\n", "\n\n", "  "])
        out.append(s)
        size += len(s.encode())
    return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=4)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    # Its paths (Models/gpt2, the build) are the repository's: run from any directory.
    os.chdir(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    text = mixed_text(a.mb)
    path = "/tmp/cllm4rec-tokenizer-bench.txt"
    open(path, "w").write(text)
    mb = len(text.encode()) / 1e6

    tok = Tokenizer(models.BPE.from_file("Models/gpt2/vocab.json", "Models/gpt2/merges.txt"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        n = len(tok.encode(text).ids)
        times.append(time.perf_counter() - t0)
    print(f"hf     encode: {mb:.2f} MB in {n} tokens; cold {mb / times[0]:.2f} MB/s, warm {mb / min(times):.2f} MB/s (best of {a.runs}); tokenizers {__import__('tokenizers').__version__}, 1 thread, one string")
    # Hugging Face is faster on many short inputs than on one long one: measure that too.
    lines = text.splitlines(keepends=True)
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        n = sum(len(e.ids) for e in tok.encode_batch(lines))
        times.append(time.perf_counter() - t0)
    print(f"hf     encode_batch of {len(lines)} lines: {n} tokens; cold {mb / times[0]:.2f} MB/s, warm {mb / min(times):.2f} MB/s (best of {a.runs}), 1 thread")

    subprocess.run(["swift", "build", "-c", "release", "--product", "benchmarks"], check=True, stdout=subprocess.DEVNULL)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([os.path.join(bin_path, "benchmarks"), "tokenizer", path, "--runs", str(a.runs)], check=True)


if __name__ == "__main__":
    sys.exit(main())
