#!/usr/bin/env bash
# The cold-start measurement of one trained run (docs/cold-start.md): every cold-row rule and ridge
# on cold-items-val with the baselines, the best by Recall@20 + Recall@40 + NDCG@100 chosen there,
# then cold-items (test) read once with that rule, and the warm test split next to EASE. The
# validation pass also leaves its head inputs in RUN/cold-val-dump.safetensors (Tools/experiments/analyze_cold_rules.py).
#
#   bash Tools/experiments/cold_evaluate.sh RUN        (BIN=path/to/cllm4rec, THREADS=1 by default)
set -euo pipefail
{
cd "$(dirname "$0")/../.."
run=$1; bin=${BIN:-.build/release/cllm4rec}; threads=${THREADS:-1}
rules=trained,content,content-map,text-map,text-knn,tfidf-map,text-tfidf-map; ridges=0.1,1,3,10,100
"$bin" evaluate "$run" --split cold-items-val --cold-rows "$rules" --cold-ridge "$ridges" --threads "$threads" \
  --dump-cold "$run/cold-val-dump.safetensors" > "$run/cold-val.txt" 2>&1
cp "$run/evaluation-cold-items-val.json" "$run/evaluation-cold-items-val-allrules.json"
read -r rule ridge < <(python3 - "$run/evaluation-cold-items-val.json" <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["results"] if r["name"].startswith("cllm4rec")]
m = lambda r: r["metrics"]["recall@20"] + r["metrics"]["recall@40"] + r["metrics"]["ndcg@100"]
best = max(rows, key=m)
print(best["cold_rows"], best.get("cold_ridge", 1))
PY
)
echo "chosen on cold-items-val: --cold-rows $rule --cold-ridge $ridge" | tee "$run/cold-choice.txt"
"$bin" evaluate "$run" --split cold-items --cold-rows "$rule" --cold-ridge "$ridge" --threads "$threads" > "$run/cold-test.txt" 2>&1
"$bin" evaluate "$run" --split test --baseline popularity,ease --threads "$threads" > "$run/warm-test.txt" 2>&1
cat "$run/cold-val.txt" "$run/cold-test.txt" "$run/warm-test.txt" | grep -vE "^\[|evaluating"
exit
}
