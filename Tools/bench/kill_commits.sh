#!/usr/bin/env bash
# kill -9 at the commits of `finetune` (issue 24): N trials, each a finetune (tiny GPT-2 on
# MovieLens-100K, LoRA rank 2, so that embeddings, summary and adapter are written together) killed
# by strace at the K-th rename or fsync it makes (K drawn at random up to the count of a whole run).
# After each kill the folder must load (`generate` answers), hold one commit's files (the commit
# id of `.generation`, `training-finetune.json` and `adapter/adapter_config.json` agree), and keep
# no leftovers of the dead process once loaded. Prints one line per trial and the totals.
#
#   bash Tools/bench/kill_commits.sh [TRIALS=50]      (needs strace: apt-get install -y strace)
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIALS=${1:-50}
command -v strace >/dev/null || { echo "strace is missing: apt-get install -y strace" >&2; exit 1; }
swift build -c release --product cllm4rec >/dev/null
bin="$(swift build -c release --show-bin-path)/cllm4rec"
data=$(bash Tools/fetch/movielens.sh --path)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$bin" init-gpt2 --config tiny --seed 1 --output "$work/model" >/dev/null
"$bin" extend-vocab "$data" --model "$work/model" --output "$work/rec" >/dev/null
"$bin" pretrain "$work/rec" --warmup-epochs 0 --rounds 1 --accumulate 1 --threads 2 >/dev/null 2>&1
finetune=("$bin" finetune "$work/rec" --epochs 2 --lora-rank 2 --content-every 0 --accumulate 1 --threads 2 --validate-every 1)

# Calibration: how many renames and fsyncs a whole finetune makes.
strace -f -qq -o "$work/calls" -e trace=rename,renameat,renameat2,fsync "${finetune[@]}" >/dev/null
renames=$(grep -cE 'rename(at2?)?\(' "$work/calls" || true); fsyncs=$(grep -c 'fsync(' "$work/calls" || true)
echo "a whole finetune: $renames renames, $fsyncs fsyncs; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

check() {  # the folder loads, is one commit, and has no leftovers once loaded
  "$bin" generate "$work/rec" --user 196 --top-k 3 --threads 1 > "$work/gen" 2>&1 || { echo "LOAD FAILED: $(tail -1 "$work/gen")"; return 1; }
  python3 - "$work/rec" <<'PY' || return 1
import json, os, sys
rec = sys.argv[1]
g = open(os.path.join(rec, ".generation")).read() if os.path.exists(os.path.join(rec, ".generation")) else None
t = json.load(open(os.path.join(rec, "training-finetune.json"))).get("commit") if os.path.exists(os.path.join(rec, "training-finetune.json")) else None
a = json.load(open(os.path.join(rec, "adapter", "adapter_config.json"))).get("cllm4rec_commit") if os.path.exists(os.path.join(rec, "adapter", "adapter_config.json")) else None
left = [n for d in ["", "adapter"] if os.path.isdir(os.path.join(rec, d)) for n in os.listdir(os.path.join(rec, d))
        if ".staging-" in n or ".tmp-" in n or n == ".commit-journal.json"]
if t is not None and not (g == t and (a is None or a == t)):
    print(f"MIXED: generation {g}, summary {t}, adapter {a}"); sys.exit(1)
if left:
    print(f"LEFTOVERS: {left}"); sys.exit(1)
PY
}

bad=0; killed=0
for i in $(seq "$TRIALS"); do
  if (( RANDOM % 2 )); then call=rename,renameat,renameat2; n=$(( RANDOM % renames + 1 )); else call=fsync; n=$(( RANDOM % fsyncs + 1 )); fi
  set +e
  strace -f -qq -o /dev/null -e trace="$call" -e inject="$call":signal=KILL:when="$n" "${finetune[@]}" >/dev/null 2>&1
  status=$?
  set -e
  [ "$status" -eq 137 ] && killed=$((killed + 1))
  if out=$(check); then echo "trial $i: killed at ${call%%,*} #$n (status $status): ok"; else echo "trial $i: killed at ${call%%,*} #$n (status $status): $out"; bad=$((bad + 1)); fi
done
echo "$TRIALS trials, $killed killed by the injected signal, $bad folders that failed to load, mixed commits or kept leftovers"
[ "$bad" -eq 0 ]
