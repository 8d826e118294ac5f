#!/usr/bin/env bash
# Data parallelism on one machine: `mpirun -np 2` with 1 thread each against 1 process with 2
# threads, the same global batch (2 x --accumulate 4 against --accumulate 8, 20 documents per
# micro-batch), MovieLens-100K, a random GPT-2 small (Models/random-small): tokens/s per stage and
# the allreduce time and bytes per optimizer step, from each run's metrics.jsonl. One pretraining
# round (a collaborative and a content epoch, --max-main-tokens 64) and one finetuning epoch.
# Knobs (environment): RUN=Runs/mpi-bench NP=2
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-Runs/mpi-bench}; NP=${NP:-2}
command -v mpirun >/dev/null || { echo "mpirun is missing: bash Tools/install/deps.sh" >&2; exit 1; }
swift build -c release --product cllm4rec >/dev/null
bin="$(swift build -c release --show-bin-path)/cllm4rec"
model=Models/random-small
[ -f "$model/model.safetensors" ] || "$bin" init-gpt2 --config small --seed 1 --output "$model" >/dev/null
data=$(bash Tools/fetch/movielens.sh --path)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe --bind-to none -np "$NP" --mca btl self,tcp --mca btl_tcp_if_include lo)
for config in single mpi; do
  dir="$RUN/$config"
  rm -rf "$dir"
  "$bin" extend-vocab "$data" --model "$model" --output "$dir" >/dev/null
  if [ $config = single ]; then run=("$bin"); flags=(--threads "$NP" --accumulate $((4 * NP))); else run=("${mpi[@]}" "$bin"); flags=(--threads 1 --accumulate 4); fi
  "${run[@]}" pretrain "$dir" --warmup-epochs 0 --rounds 1 --max-main-tokens 64 --lambda 0.01 "${flags[@]}" > "$dir.pretrain.log" 2>&1
  "${run[@]}" finetune "$dir" --epochs 1 --content-every 0 --lr 1e-3 --lambda 0.01 "${flags[@]}" > "$dir.finetune.log" 2>&1
done
python3 - "$RUN" "$NP" <<'PY'
import json, sys
run, np_ = sys.argv[1], int(sys.argv[2])
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
print(f"MovieLens-100K, random GPT-2 small, {cpu}: 1 process x {np_} threads against {np_} processes x 1 thread (mpirun, TCP on loopback)")
print(f"{'epoch':28s} {'1 x ' + str(np_) + ' tok/s':>12s} {str(np_) + ' x 1 tok/s':>12s} {'ratio':>7s} {'steps':>6s} {'allreduce ms/step':>18s} {'MB/step':>8s} {'rows touched':>13s} {'loss 1 / ' + str(np_):>22s}")
a = [json.loads(l) for l in open(f"{run}/single/metrics.jsonl")]
b = [json.loads(l) for l in open(f"{run}/mpi/metrics.jsonl")]
for x, y in zip(a, b):
    steps = max(y.get("optimizer_steps", 1), 1)
    name = f"{x['stage']} {x['kind']}"
    print(f"{name:28s} {x['tokens_per_s']:12.0f} {y['tokens_per_s']:12.0f} {y['tokens_per_s'] / x['tokens_per_s']:6.2f}x {steps:6d} "
          f"{1000 * y.get('allreduce_seconds', 0) / steps:18.1f} {y.get('allreduce_bytes', 0) / steps / 1e6:8.2f} "
          f"{100 * y.get('touched_rows', 0) / steps / max(y.get('table_rows', 1), 1):12.1f}% {x['loss']:10.4f} / {y['loss']:.4f}")
PY
