#!/usr/bin/env python3
"""Download a GPT-2 from the Hugging Face Hub and import it with `cllm4rec import-gpt2`.

    pip install huggingface_hub
    python3 Tools/fetch/gpt2.py [gpt2|distilgpt2|gpt2-medium|gpt2-large|gpt2-xl]   # default gpt2

Writes Models/<name>/ (config.json, model.safetensors, vocab.json, merges.txt). Needs internet
access to huggingface.co; weights are never committed (see Models/README.md).
"""
import os, subprocess, sys

from huggingface_hub import snapshot_download

REPOS = {"gpt2": "openai-community/gpt2", "distilgpt2": "distilbert/distilgpt2",
         "gpt2-medium": "openai-community/gpt2-medium", "gpt2-large": "openai-community/gpt2-large",
         "gpt2-xl": "openai-community/gpt2-xl"}

name = sys.argv[1] if len(sys.argv) > 1 else "gpt2"
if name not in REPOS:
    sys.exit(f"unknown model {name}; choose one of {', '.join(REPOS)}")
folder = snapshot_download(REPOS[name], allow_patterns=["config.json", "model.safetensors", "vocab.json", "merges.txt"])
subprocess.run(["swift", "build", "-c", "release", "--product", "cllm4rec"], check=True)
binary = os.path.join(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True,
                                     capture_output=True, text=True).stdout.strip(), "cllm4rec")
subprocess.run([binary, "import-gpt2", folder, "--output", os.path.join("Models", name)], check=True)
