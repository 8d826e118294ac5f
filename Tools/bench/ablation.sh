#!/usr/bin/env bash
# What the pretrained LLM adds (the paper's LLM vs LLM-Scratch ablation), MovieLens-100K:
#   SmolLM2-135M pretrained (Tools/fetch/smollm2.sh) vs the same architecture randomly initialised vs a
#   random GPT-2 small, each with the same schedule and seeds through Tools/bench/quality.sh, λ chosen
#   on validation among LAMBDAS for each backbone; then test Recall@20/40, NDCG@100 (popularity and
#   EASE printed by each run), content loss after pretraining, wall time, and 3 generated reviews.
# Knobs (environment): BACKBONES="smollm2 random-smollm2 random-gpt2" LAMBDAS="0.01 1" EPOCHS=4
#   VALIDATE_EVERY=4 ROUNDS=1 THREADS=2 OUT=Runs/ablation; SUMMARY_ONLY=1 runs nothing new and
#   tabulates the runs already in OUT (so backbones can be run with different λ lists, then summed up).
set -euo pipefail
cd "$(dirname "$0")/../.."
BACKBONES=${BACKBONES:-"smollm2 random-smollm2 random-gpt2"}; LAMBDAS=${LAMBDAS:-"0.01 1"}
EPOCHS=${EPOCHS:-4}; VALIDATE_EVERY=${VALIDATE_EVERY:-4}; ROUNDS=${ROUNDS:-1}; THREADS=${THREADS:-2}; OUT=${OUT:-Runs/ablation}
swift build -c release --product cllm4rec >/dev/null
bin="$(swift build -c release --show-bin-path)/cllm4rec"
mkdir -p "$OUT"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $THREADS threads"
for b in $BACKBONES; do
  case "$b" in
    smollm2) model=Models/smollm2-135m; [ -f $model/model.safetensors ] || bash Tools/fetch/smollm2.sh $model ;;
    random-smollm2) model=Models/random-smollm2-135m
      [ -f Models/smollm2-135m/tokenizer.json ] || bash Tools/fetch/smollm2.sh Models/smollm2-135m
      [ -f $model/model.safetensors ] || "$bin" init-model --config smollm2-135m --tokenizer Models/smollm2-135m --seed 1 --output $model ;;
    random-gpt2) model=Models/random-small; [ -f $model/model.safetensors ] || "$bin" init-model --config small --seed 1 --output $model ;;
    *) echo "unknown backbone $b"; exit 2 ;;
  esac
  for l in $LAMBDAS; do
    run="$OUT/$b-lambda$l"
    if [ -f "$run/evaluation-test.json" ]; then echo "$run: done before, kept"; continue; fi
    [ -z "${SUMMARY_ONLY:-}" ] || continue
    echo "== $b, λ $l =="
    start=$(date +%s)
    MODEL=$model RUN=$run LAMBDA=$l EPOCHS=$EPOCHS VALIDATE_EVERY=$VALIDATE_EVERY ROUNDS=$ROUNDS WARMUP=0 THREADS=$THREADS \
      bash Tools/bench/quality.sh > "$run.log" 2>&1 || { echo "$run failed, see $run.log"; tail -5 "$run.log"; continue; }
    echo "$(( $(date +%s) - start )) s" > "$run.seconds"
    grep -E "^(cllm4rec|popularity|EASE|wall time|content loss|first)" "$run.log" || true
  done
done
python3 - "$OUT" "$BACKBONES" "$LAMBDAS" <<'PY'
import json, os, sys
out, backbones, lambdas = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
print(f"\n| backbone | λ (chosen on validation) | validation R@20 | content loss after pretraining | test R@20 | R@40 | NDCG@100 | wall time |")
print("|---|---|---|---|---|---|---|---|")
chosen = {}
for b in backbones:
    best = None
    for l in lambdas:
        run = f"{out}/{b}-lambda{l}"
        if not os.path.exists(f"{run}/metrics.jsonl"): continue
        rows = [json.loads(x) for x in open(f"{run}/metrics.jsonl")]
        val = [r["val_recall@20"] for r in rows if "val_recall@20" in r]
        v = max(val) if val else float("nan")
        content = [r["loss"] for r in rows if r["kind"] == "content" and r["stage"] == "pretrain"]
        test = json.load(open(f"{run}/evaluation-test.json"))
        secs = open(f"{run}.seconds").read().strip() if os.path.exists(f"{run}.seconds") else "?"
        cand = (v, l, content[-1] if content else float("nan"), test, secs)
        print(f"<!-- {b} λ {l}: validation R@20 {v:.4f} -->")
        if best is None or v > best[0]: best = cand
    if best:
        v, l, c, test, secs = best
        m = next(x["metrics"] for x in test["results"] if x["name"].startswith("cllm4rec"))
        chosen[b] = f"{out}/{b}-lambda{l}"
        print(f"| {b} | {l} | {v:.4f} | {c:.3f} | {m.get('recall@20', float('nan')):.4f} | {m.get('recall@40', float('nan')):.4f} | {m.get('ndcg@100', float('nan')):.4f} | {secs} |")
json.dump(chosen, open(f"{out}/chosen.json", "w"))
PY
for b in $BACKBONES; do
  run=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ''))" "$OUT/chosen.json" "$b")
  [ -n "$run" ] || continue
  echo "== reviews, $b ($run) =="
  for pair in "196 242" "186 302" "22 50"; do
    set -- $pair
    "$bin" generate "$run" --review --user "$1" --item "$2" --max-new-tokens 40 --temperature 0.7 --top-p 0.9 --seed 1 --threads "$THREADS" || true
  done
done
