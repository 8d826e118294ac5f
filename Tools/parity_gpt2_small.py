#!/usr/bin/env python3
"""Parity on a full-size (124M) random GPT-2: mean loss from `cllm4rec perplexity` against
Hugging Face `GPT2LMHeadModel` on the same text and windows. Prints both and the relative difference
(the bar is 1e-5).

    python3 Tools/parity_gpt2_small.py [--model Models/random-small] [--text FILE]
"""
import argparse, os, subprocess, sys

import torch
from transformers import AutoTokenizer, GPT2LMHeadModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="Models/random-small")
    ap.add_argument("--text", default="README.md")
    a = ap.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--product", "cllm4rec"], check=True, stdout=subprocess.DEVNULL)
    binary = os.path.join(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True,
                                         capture_output=True, text=True).stdout.strip(), "cllm4rec")
    if not os.path.exists(os.path.join(a.model, "model.safetensors")):
        subprocess.run([binary, "init-gpt2", "--config", "small", "--seed", "1", "--output", a.model], check=True)
    ours = subprocess.run([binary, "perplexity", "--model", a.model, a.text], check=True, capture_output=True, text=True).stdout
    our_loss = float(ours.strip().splitlines()[-1].split()[0].split("=")[1])

    tok = AutoTokenizer.from_pretrained(a.model)
    model = GPT2LMHeadModel.from_pretrained(a.model).eval()
    ids = tok.encode(open(a.text, encoding="utf-8").read())
    w = model.config.n_positions
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(ids), w):
            piece = torch.tensor([ids[s:s + w]])
            if piece.shape[1] < 2:
                continue
            loss = model(input_ids=piece, labels=piece).loss.double().item()
            total += loss * (piece.shape[1] - 1)
            count += piece.shape[1] - 1
    hf_loss = total / count
    print(f"swift loss {our_loss:.6f}  hf loss {hf_loss:.6f}  tokens {count}  relative difference {abs(our_loss - hf_loss) / hf_loss:.2e}")


if __name__ == "__main__":
    sys.exit(main())
