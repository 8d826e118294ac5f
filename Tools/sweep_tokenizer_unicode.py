#!/usr/bin/env python3
"""Every Unicode scalar value through both tokenizers: this project's (`cllm4rec tokenize`) and
Hugging Face's (Rust `tokenizers`, GPT-2 vocab and merges from Models/gpt2), to find where the two
classify a character differently (letter, number, whitespace, other: the classes of GPT-2's
pre-tokenizer pattern), e.g. because their Unicode versions differ.

    python3 Tools/sweep_tokenizer_unicode.py [--block 4096]

Each code point c goes into the context "a{c}b {c}{c}1{c} {c}x", which puts it next to letters,
digits, spaces and itself; a block of contexts is encoded line by line on both sides (`cllm4rec
tokenize --lines`, `encode_batch`), so U+000A, the line separator, is left out (the tokenizer tests
cover it). Prints the mismatching code points with their Unicode category (Python's unicodedata)
and both encodings, and a summary line. Needs `pip install tokenizers`.
"""
import argparse, os, subprocess, sys, unicodedata

from tokenizers import Tokenizer, decoders, models, pre_tokenizers


def context(c):
    ch = chr(c)
    return f"a{ch}b {ch}{ch}1{ch} {ch}x"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--model", default="Models/gpt2")
    a = ap.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--product", "cllm4rec"], check=True, stdout=subprocess.DEVNULL)
    binary = os.path.join(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True,
                                         capture_output=True, text=True).stdout.strip(), "cllm4rec")
    hf = Tokenizer(models.BPE.from_file(f"{a.model}/vocab.json", f"{a.model}/merges.txt"))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()

    def ours(texts):
        out = subprocess.run([binary, "tokenize", "--model", a.model, "--lines"], input="\n".join(texts).encode("utf-8"),
                             check=True, capture_output=True).stdout.decode()
        lines = out.split("\n")[:-1]
        assert len(lines) == len(texts), (len(lines), len(texts))
        return [[int(t) for t in line.split()] for line in lines]

    scalars = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and c != 0x0A]
    mismatches = []
    for start in range(0, len(scalars), a.block):
        block = scalars[start:start + a.block]
        texts = [context(c) for c in block]
        for c, mine, theirs in zip(block, ours(texts), [e.ids for e in hf.encode_batch(texts)]):
            if mine != theirs:
                mismatches.append(c)
                print(f"U+{c:04X} {unicodedata.category(chr(c))} {unicodedata.name(chr(c), '?')}: swift {mine} hf {theirs}",
                      flush=True)
    print(f"{len(scalars)} scalar values, {len(mismatches)} encoded differently "
          f"(Python's Unicode {unicodedata.unidata_version})")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
