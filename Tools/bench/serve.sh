#!/usr/bin/env bash
# Load on `cllm4rec serve` with wrk (Debian: apt-get install -y wrk), and schemathesis (PyPI) against
# its OpenAPI document.
#
# 1. Requests/s and p50/p99 latency, batching on (--max-batch 32 --max-wait-ms 2) and off
#    (--max-batch 1), answer cache off (so every request runs the model; users are drawn at random):
#    known-user recommendations (GET /v1/users/ID/recommendations?k=20) at concurrency 1, 8 and 32,
#    and new-user fold-in (POST /v1/recommendations, 20 random items, 5 Adam steps) at 1 and 8.
#    The recommender is MovieLens-100K on a GPT-2 small-shaped backbone: REC=DIR (any recommender
#    folder, e.g. Runs/ml-100k-quality from Tools/bench/quality.sh), or one made here from a random
#    GPT-2 small (not trained: it is scored with its collaborative embeddings, at the same cost).
# 2. schemathesis: every operation of /openapi.json with generated valid and invalid requests,
#    against a server on the same MovieLens ids with a tiny backbone (fast enough to answer
#    thousands of requests, reviews included); prints the number of requests and of 5xx answers.
#
# Knobs (environment): REC=DIR DURATION=30 (seconds per wrk run) THREADS=2 PORT=18080 EXAMPLES=100
# (schemathesis examples per operation) SKIP_LOAD=1 SKIP_FUZZ=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-30}; THREADS=${THREADS:-2}; PORT=${PORT:-18080}; EXAMPLES=${EXAMPLES:-100}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
swift build -c release --product cllm4rec >/dev/null
bin="$(swift build -c release --show-bin-path)/cllm4rec"
data=$(bash Tools/fetch/movielens.sh --path)
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

rec="${REC:-}"
if [ -z "$rec" ]; then
  model=Models/random-small
  [ -f "$model/model.safetensors" ] || "$bin" init-gpt2 --config small --seed 1 --output "$model" >/dev/null
  rec="$work/rec-small"
  "$bin" extend-vocab "$data" --model "$model" --output "$rec" >/dev/null
fi

# Starts `serve` on $PORT with the given flags and waits until it listens.
start() {
  "$bin" serve "$1" --port "$PORT" --threads "$THREADS" "${@:2}" > "$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do grep -q "listening on" "$work/server.log" && return 0; sleep 0.1; done
  cat "$work/server.log" >&2; exit 1
}
stop() { kill -TERM "$server"; wait "$server" || true; server=""; }

# The ids of the folder, as Lua tables for wrk.
python3 - "$rec/ids.json" "$work" <<'EOF'
import json, sys
ids = json.load(open(sys.argv[1]))
def table(xs): return "{" + ",".join(json.dumps(x) for x in xs) + "}"
common = 'done = function(s, l, r)\n  local e = s.errors\n  io.write(string.format("RESULT %d %.1f %.1f %.1f %d %d\\n", s.requests, s.requests / (s.duration / 1e6), l:percentile(50) / 1000, l:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, e.status))\nend\n'
seed = 'local n = 0\nsetup = function(t) n = n + 1; t:set("id", n) end\ninit = function() math.randomseed(id * 7919) end\n'
open(sys.argv[2] + "/users.lua", "w").write(seed + "local users = " + table(ids["users"]) + "\n" +
  'request = function() return wrk.format("GET", "/v1/users/" .. users[math.random(#users)] .. "/recommendations?k=20") end\n' + common)
open(sys.argv[2] + "/history.lua", "w").write(seed + "local items = " + table(ids["items"]) + "\n" +
  'request = function()\n  local h = {}\n  for k = 1, 20 do h[k] = \'"\' .. items[math.random(#items)] .. \'"\' end\n' +
  '  return wrk.format("POST", "/v1/recommendations", {["Content-Type"] = "application/json"}, \'{"k": 20, "history": [\' .. table.concat(h, ",") .. "]}")\nend\n' + common)
EOF

if [ -z "${SKIP_LOAD:-}" ]; then
  echo "cllm4rec serve under wrk: $rec, $THREADS threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), ${DURATION}s per run, cache off"
  printf "%-22s %-9s %5s %9s %9s %9s %8s %7s\n" endpoint batching conc req/s p50_ms p99_ms requests errors
  for batching in on off; do
    if [ $batching = on ]; then flags=(--max-batch 32 --max-wait-ms 2); else flags=(--max-batch 1); fi
    for what in users:1 users:8 users:32 history:1 history:8; do
      # A fresh server per run: requests still queued when wrk stops would load the next run.
      start "$rec" --cache-mb 0 "${flags[@]}"
      script=${what%%:*}; c=${what##*:}
      out=$(wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${DURATION}s" --timeout 120s -s "$work/$script.lua" "http://127.0.0.1:$PORT" | grep RESULT)
      read -r _ requests rps p50 p99 sockerr status <<< "$out"
      name=$([ "$script" = users ] && echo "GET known user" || echo "POST history fold-in")
      printf "%-22s %-9s %5s %9s %9s %9s %8s %7s\n" "$name" "$batching" "$c" "$rps" "$p50" "$p99" "$requests" "$((sockerr + status))"
      stop
    done
  done
fi

if [ -z "${SKIP_FUZZ:-}" ]; then
  command -v st >/dev/null || { echo "schemathesis is missing: pip install schemathesis" >&2; exit 1; }
  "$bin" init-gpt2 --config tiny --seed 1 --output "$work/tiny" >/dev/null
  "$bin" extend-vocab "$data" --model "$work/tiny" --output "$work/rec-tiny" >/dev/null
  start "$work/rec-tiny" --threads 1
  echo "schemathesis $(st --version | awk '{print $NF}') against /openapi.json ($EXAMPLES examples per operation, all checks, MovieLens ids, tiny backbone):"
  st run "http://127.0.0.1:$PORT/openapi.json" --checks all --max-examples "$EXAMPLES" --phases examples,coverage,fuzzing,stateful \
    --report junit --report-dir "$work/report" > "$work/st.log" 2>&1 || true
  tail -25 "$work/st.log"
  total=$(grep -cE '"(GET|POST) /' "$work/server.log" || true)
  total=$(grep -cE ' (GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|TRACE) /' "$work/server.log" || true)
  fives=$(grep -cE ' (GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|TRACE) /[^ ]* 5[0-9][0-9] ' "$work/server.log" || true)
  echo "server log: $total requests answered, $fives with a 5xx status"
  stop
fi
