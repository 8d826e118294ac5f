#!/usr/bin/env bash
# Coverage-guided fuzzing of one file reader with libFuzzer + AddressSanitizer.
# Usage: bash Tools/fuzz.sh NAME [SECONDS] [extra libFuzzer flags...]
#   NAME: FuzzSafeTensors FuzzZip FuzzPickle FuzzTorchCheckpoint FuzzGzip FuzzJSON FuzzTokenizerFiles FuzzTokenizerJSON FuzzGGUF
#         FuzzRecBole FuzzBenchmarkSplit FuzzAmazon FuzzCSV FuzzPythonLiteral FuzzCorpora, or `list`
# Builds Fuzz/ (release configuration, as users run it, plus -sanitize=fuzzer,address), starts from
# the committed seeds in Fuzz/Seeds/NAME, keeps the growing corpus in Fuzz/Work/NAME/corpus and
# anything found in Fuzz/Work/NAME/findings (crash-*, leak-*, timeout-*, oom-*); a finding becomes a
# regression test with its bytes. Prints executions, coverage and findings at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: Tools/fuzz.sh NAME [SECONDS]}"; seconds="${2:-600}"; shift $(( $# >= 2 ? 2 : 1 ))
harnesses=$(ls Fuzz/Sources | grep '^Fuzz' | grep -v FuzzSupport)
if [ "$name" = list ]; then echo "$harnesses"; exit 0; fi
echo "$harnesses" | grep -qx "$name" || { echo "unknown harness $name; one of:"; echo "$harnesses"; exit 2; }
bash Tools/install/deps.sh
swift build -c release --package-path Fuzz --scratch-path Fuzz/.build \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld --product "$name" >&2
bin="$(swift build -c release --package-path Fuzz --scratch-path Fuzz/.build --show-bin-path)/$name"
work="Fuzz/Work/$name"
mkdir -p "$work/corpus" "$work/findings"
cp -n Fuzz/Seeds/"$name"/* "$work/corpus/" 2>/dev/null || true
echo "fuzzing $name for $seconds s on one core ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
set +e
started=$(date +%s)
# Foundation's known leak on empty files (Fuzz/lsan.supp); Swift's own crash handler would run inside
# the sanitizer after a trap and confuse the report, so libFuzzer's report is the one kept.
LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp" SWIFT_BACKTRACE=enable=no "$bin" "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
  -artifact_prefix="$work/findings/" -print_final_stats=1 "$@" 2>&1 | tee "$work/log" | grep -E "^#[0-9]+ +(INITED|DONE)|ERROR|SUMMARY|stat::" 
status=${PIPESTATUS[0]}
elapsed=$(( $(date +%s) - started ))
set -e
findings=$(ls "$work/findings" | wc -l)
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' || echo "?")
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | grep -o '[0-9]*' || echo "?")
echo "$name: $execs executions in $elapsed s (of $seconds), $cov edges covered, $findings findings in $work/findings (libFuzzer exit $status)"
exit "$status"
