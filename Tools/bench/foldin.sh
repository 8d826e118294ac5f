#!/usr/bin/env bash
# New users, measured ("strong generalization", Liang et al. 2018): MovieLens-100K with HELDOUT users
# kept entirely out of training (extend-vocab --heldout-users), the rest trained as in the quality
# benchmark; then each held-out user's history is folded in (80% of their items; nothing retrained)
# and the other 20% are to be found, next to popularity and EASE fed the same 80%. Prints Recall@20/40,
# NDCG@100 and the fold-in time per user for each number of fold-in steps in STEPS, at each learning
# rate in LRS. Also the test split of the known users, for comparison.
# Knobs (environment):
#   CONFIG=distil HELDOUT=100 EPOCHS=8 LR=1e-3 LAMBDA=0.01 STEPS=0,5,10,20,50 LRS=1e-2 THREADS=2 RUN=Runs/ml-100k-foldin
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=${CONFIG:-distil}; HELDOUT=${HELDOUT:-100}; EPOCHS=${EPOCHS:-8}; LR=${LR:-1e-3}; LAMBDA=${LAMBDA:-0.01}
STEPS=${STEPS:-0,5,10,20,50}; LRS=${LRS:-1e-2}; THREADS=${THREADS:-2}; RUN=${RUN:-Runs/ml-100k-foldin}
swift build -c release --product cllm4rec >/dev/null
bin="$(swift build -c release --show-bin-path)/cllm4rec"
model=Models/random-$CONFIG
[ -f "$model/model.safetensors" ] || "$bin" init-gpt2 --config "$CONFIG" --seed 1 --output "$model" >/dev/null
data=$(bash Tools/fetch/movielens.sh --path)
echo "backbone $model (random), data $data, $HELDOUT held-out users, finetune $EPOCHS epochs at lr $LR, λ $LAMBDA, $THREADS threads"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), OpenBLAS kernels chosen by cllm4rec (see the training log)"
if [ ! -f "$RUN/training-finetune.json" ]; then
  "$bin" extend-vocab "$data" --model "$model" --output "$RUN" --heldout-users "$HELDOUT" --force
  "$bin" pretrain "$RUN" --warmup-epochs 0 --rounds 1 --accumulate 1 --max-main-tokens 64 --lambda "$LAMBDA" --threads "$THREADS"
  "$bin" finetune "$RUN" --epochs "$EPOCHS" --lr "$LR" --accumulate 1 --lambda "$LAMBDA" --max-main-tokens 64 \
    --content-every 0 --validate-every 2 --threads "$THREADS"
fi
"$bin" evaluate "$RUN" --split test --baseline popularity,ease --threads "$THREADS"
for lr in ${LRS//,/ }; do
  echo "== fold-in learning rate $lr"
  "$bin" evaluate "$RUN" --split heldout-users --fold-in-steps "$STEPS" --fold-in-lr "$lr" --baseline popularity,ease --threads "$THREADS"
done
