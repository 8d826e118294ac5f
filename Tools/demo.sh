#!/usr/bin/env bash
# The main job on a small default, end to end, on a fresh Debian machine:
# installs the system libraries, builds in release mode, gets a GPT-2 backbone (the real one when
# Models/gpt2/model.safetensors exists, from Tools/fetch-gpt2; otherwise a randomly initialised
# GPT-2 small, and it says so), then generates text from it and measures its perplexity.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/install-deps.sh
swift build -c release --product cllm4rec
bin="$(swift build -c release --show-bin-path)/cllm4rec"

if [ -f Models/gpt2/model.safetensors ]; then
  model=Models/gpt2
  echo "== backbone: the real GPT-2 in $model"
else
  model=Models/random-small
  if [ ! -f "$model/model.safetensors" ]; then
    "$bin" init-gpt2 --config small --seed 1 --output "$model"
  fi
  echo "== backbone: a RANDOMLY INITIALISED GPT-2 small in $model (no real weights here; run Tools/fetch-gpt2 on a machine with internet)"
fi

echo "== greedy generation (KV cache)"
"$bin" generate --model "$model" --prompt "My favourite movie is" --max-new-tokens 30 --temperature 0
echo "== sampled generation (temperature 0.9, top-p 0.95, seed 7)"
"$bin" generate --model "$model" --prompt "My favourite movie is" --max-new-tokens 30 --temperature 0.9 --top-p 0.95 --seed 7
echo "== perplexity of README.md (a random model scores near ln(50257) = 10.8 nats per token)"
"$bin" perplexity --model "$model" README.md
