#!/usr/bin/env bash
# MPI across "hosts" on one machine: network namespaces cllm-h1..hN, each with an eth0 (10.77.0.i/24)
# on a veth pair to a bridge that lives in its own namespace (cllm-sw, so no firewall of the machine
# applies), so that every byte of the allreduce crosses Linux's TCP stack between hosts. mpirun
# starts in cllm-h1 and reaches the other hosts through an `rsh` agent that runs the command in the
# host's namespace (instead of ssh). Optional RATE (e.g. 10gbit) shapes every veth with tbf.
#
# Prints (1) `benchmarks allreduce` across the hosts: the time of one allreduce of the gradient
# tables of MovieLens-100K, MovieLens-1M and Amazon Beauty, and (2) one finetuning epoch of
# MovieLens-100K on a random GPT-2 small across the hosts (REC=DIR to use another recommender
# folder): bytes per optimizer step and allreduce time per step, from metrics.jsonl.
# Needs root, iproute2 and Open MPI. Knobs: HOSTS=4 RATE= REPEATS=20 SKIP_TRAINING=1
set -euo pipefail
cd "$(dirname "$0")/../.."
HOSTS=${HOSTS:-4}; REPEATS=${REPEATS:-20}; RATE=${RATE:-}
command -v mpirun >/dev/null || { echo "mpirun is missing: bash Tools/install/deps.sh" >&2; exit 1; }
swift build -c release --product cllm4rec --product benchmarks >/dev/null 2>&1 || swift build -c release >/dev/null
bindir="$(swift build -c release --show-bin-path)"
work=$(mktemp -d)
cleanup() {
  for i in $(seq "$HOSTS"); do ip netns del "cllm-h$i" 2>/dev/null || true; done
  ip netns del cllm-sw 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup; work=$(mktemp -d)

ip netns add cllm-sw
ip -n cllm-sw link add br0 type bridge
ip -n cllm-sw link set br0 up
for i in $(seq "$HOSTS"); do
  ns="cllm-h$i"
  ip netns add "$ns"
  ip link add "h$i" netns cllm-sw type veth peer name eth0 netns "$ns"
  ip -n cllm-sw link set "h$i" master br0 up
  ip -n "$ns" addr add "10.77.0.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  if [ -n "$RATE" ]; then
    ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$RATE" burst 1mbit latency 50ms
  fi
  echo "10.77.0.$i slots=1" >> "$work/hosts"
done
# The hosts reach each other over TCP (bash's /dev/tcp: no ping needed): a listener on the last host.
ip netns exec "cllm-h$HOSTS" timeout 5 python3 -c "import socket; s = socket.socket(); s.bind(('10.77.0.$HOSTS', 7777)); s.listen(); s.accept()" &
sleep 0.5
ip netns exec cllm-h1 timeout 3 bash -c "echo > /dev/tcp/10.77.0.$HOSTS/7777" || { echo "the namespaces do not reach each other" >&2; exit 1; }
wait

# mpirun calls the agent as `agent [options] HOST COMMAND...`: run COMMAND in HOST's namespace.
cat > "$work/netns-rsh" <<'EOF'
#!/bin/sh
while [ "${1#-}" != "$1" ]; do shift; done
host=$1; shift
exec ip netns exec "cllm-h${host##*.}" sh -c "$*"
EOF
chmod +x "$work/netns-rsh"
# PMIx keeps its data store in shared memory named per job: one machine posing as several hosts
# needs the hash store instead.
export PMIX_MCA_gds=hash
mpi=(ip netns exec cllm-h1 mpirun --allow-run-as-root --hostfile "$work/hosts" -np "$HOSTS" --mca plm_rsh_agent "$work/netns-rsh"
     --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 --bind-to none --oversubscribe)

echo "$HOSTS hosts (network namespaces, veth to a bridge${RATE:+, each link shaped to $RATE}), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"${mpi[@]}" "$bindir/benchmarks" allreduce --repeats "$REPEATS"

if [ -z "${SKIP_TRAINING:-}" ]; then
  rec="${REC:-}"
  if [ -z "$rec" ]; then
    model=Models/random-small
    [ -f "$model/model.safetensors" ] || "$bindir/cllm4rec" init-gpt2 --config small --seed 1 --output "$model" >/dev/null
    data="${CLLM4REC_ML100K:-../shared/data/ml-100k}"
    rec="$work/rec"
    "$bindir/cllm4rec" extend-vocab "$data" --model "$model" --output "$rec" >/dev/null
  fi
  rm -f "$rec/metrics.jsonl"
  "${mpi[@]}" "$bindir/cllm4rec" finetune "$(realpath "$rec")" --epochs 1 --content-every 0 --threads 1 --accumulate 2 > "$work/finetune.log" 2>&1 \
    || { tail -20 "$work/finetune.log"; exit 1; }
  python3 - "$rec/metrics.jsonl" "$HOSTS" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    steps = max(m.get("optimizer_steps", 1), 1)
    print(f"finetune epoch over {sys.argv[2]} hosts: {m['tokens_per_s']:.0f} tokens/s, {steps} optimizer steps, "
          f"{m['allreduce_bytes'] / steps / 1e6:.2f} MB sent per process per step, {1000 * m['allreduce_seconds'] / steps:.1f} ms in allreduce per step "
          f"(waiting for the slowest process included), rows with a gradient {100 * m['touched_rows'] / steps / m['table_rows']:.1f}% per step")
PY
fi
