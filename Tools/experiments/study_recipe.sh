#!/usr/bin/env bash
# The recipe study of docs/what-the-llm-adds.md: MovieLens-100K on the shared reference-protocol
# split, one pretraining per (backbone, pretraining recipe), then finetuning variants on copies of
# it, all with the same seeds (extend-vocab 98765, training 98765), validation every VALIDATE_EVERY
# epochs (metrics.jsonl: validation Recall/NDCG and the collapse diagnostic per validated epoch).
# The test split is read only for the runs chosen on validation (`cllm4rec evaluate RUN --split
# test --baseline popularity,ease`), once.
#
#   bash Tools/experiments/study_recipe.sh PRETRAIN_SPEC FINETUNE_SPEC [FINETUNE_SPEC ...]
#
# PRETRAIN_SPEC  backbone:init:warmup:lambda[:head], e.g. smollm2:normal:0:0.01 (backbone: smollm2,
#                random-smollm2, random-gpt2; init: normal, text-mean; head: the collaborative head's
#                input, raw (empty) or standardized, which names the folder `...-head<head>`)
# FINETUNE_SPEC  head:lora:lr:lambda:epochs[:adapter-lr[:targets]], e.g. standardized:8:1e-3:0.01:4 (lora:
#                rank, 0 = off; adapter-lr: the adapter's own Adam rate, empty = lr; targets: the LoRA
#                projections, comma-separated or `all` for every linear module, empty = the backbone's)
# Knobs: OUT=Runs/study SPLIT=../shared/data/ml-100k-split ROUNDS=1 CONTENT_EVERY=1 (pretraining: a
#        content epoch in every K-th round, 0 none; ROUNDS and CONTENT_EVERY other than 1 name the
#        pretraining folder, `...-rounds<R>-contentevery<K>`) VALIDATE_EVERY=2 THREADS=2
#        SEED=98765 (extend-vocab's row initialisation and every training seed; another seed gets its
#        own folders, `...-seed<N>`, for the seed spread)
#        ROWS=normal (`extend-vocab --id-rows`: where the new rows are drawn; vocabulary-mean names the
#        pretraining folder `...-rowsvocabulary-mean`)
#        COLD=0 (a fraction: `extend-vocab --cold-items COLD`, folders `...-cold<COLD>`, for
#        `cllm4rec evaluate RUN --split cold-items-val|cold-items`)
# Each run leaves OUT/<pretrain>/<finetune>/ (metrics.jsonl, training-finetune.json, finetune.log);
# `python3 Tools/experiments/study_table.py OUT` tabulates them; `cllm4rec report RUN` draws one. A run that finished before is kept.
set -euo pipefail
# One group, read whole before it runs: editing this file during a study cannot change a running one.
{
cd "$(dirname "$0")/../.."
OUT=${OUT:-Runs/study}; SPLIT=${SPLIT:-../shared/data/ml-100k-split}; ROUNDS=${ROUNDS:-1}
VALIDATE_EVERY=${VALIDATE_EVERY:-2}; THREADS=${THREADS:-2}; SEED=${SEED:-98765}; CONTENT_EVERY=${CONTENT_EVERY:-1}
seed_suffix=""; [ "$SEED" = 98765 ] || seed_suffix="-seed$SEED"
[ "$CONTENT_EVERY" = 1 ] || seed_suffix="-contentevery$CONTENT_EVERY$seed_suffix"
[ "$ROUNDS" = 1 ] || seed_suffix="-rounds$ROUNDS$seed_suffix"
ROWS=${ROWS:-normal}; [ "$ROWS" = normal ] || seed_suffix="-rows$ROWS$seed_suffix"
COLD=${COLD:-0}; cold_flags=(); [ "$COLD" = 0 ] || { seed_suffix="$seed_suffix-cold$COLD"; cold_flags=(--cold-items "$COLD"); }
# The study runs a copy of the binary, so that rebuilding the package meanwhile cannot touch it.
bin=${BIN:-}
if [ -z "$bin" ]; then
  swift build -c release --product cllm4rec >/dev/null
  mkdir -p "$OUT"; cp "$(swift build -c release --show-bin-path)/cllm4rec" "$OUT/cllm4rec"; bin="$OUT/cllm4rec"
fi
data=$(bash Tools/fetch/movielens.sh --path)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $THREADS threads; split $SPLIT"

IFS=: read -r backbone init warmup plambda phead <<< "$1"; shift
phead=${phead:-raw}; [ "$phead" = raw ] || seed_suffix="-head$phead$seed_suffix"
case "$backbone" in
  smollm2) model=Models/smollm2-135m; [ -f $model/model.safetensors ] || bash Tools/fetch/smollm2.sh $model ;;
  random-smollm2) model=Models/random-smollm2-135m
    [ -f Models/smollm2-135m/tokenizer.json ] || bash Tools/fetch/smollm2.sh Models/smollm2-135m
    [ -f $model/model.safetensors ] || "$bin" init-model --config smollm2-135m --tokenizer Models/smollm2-135m --seed 1 --output $model >/dev/null ;;
  random-gpt2) model=Models/random-small; [ -f $model/model.safetensors ] || "$bin" init-model --config small --seed 1 --output $model >/dev/null ;;
  *) echo "unknown backbone $backbone"; exit 2 ;;
esac
pre="$OUT/$backbone-$init-warmup$warmup-lambda$plambda$seed_suffix"
if [ ! -f "$pre/base/training-pretrain.json" ]; then
  rm -rf "$pre"; mkdir -p "$pre"
  echo "== pretraining $pre"
  t0=$(date +%s)
  "$bin" extend-vocab "$data" --split-from "$SPLIT" --model "$model" --init "$init" --id-rows "$ROWS" --seed "$SEED" "${cold_flags[@]}" --output "$pre/base" > "$pre/pretrain.log" 2>&1
  "$bin" pretrain "$pre/base" --warmup-epochs "$warmup" --rounds "$ROUNDS" --content-every "$CONTENT_EVERY" --head-input "$phead" --accumulate 1 --max-main-tokens 64 \
    --lambda "$plambda" --seed "$SEED" --threads "$THREADS" >> "$pre/pretrain.log" 2>&1
  echo "$(( $(date +%s) - t0 )) s" > "$pre/pretrain.seconds"
fi
for spec in "$@"; do
  IFS=: read -r head lora lr flambda epochs adapter_lr targets <<< "$spec"
  case "$targets:$backbone" in
    all:random-gpt2) targets=c_attn,c_proj,c_fc ;;
    all:*) targets=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj ;;
  esac
  run="$pre/$head-lora$lora-lr$lr-lambda$flambda-epochs$epochs${adapter_lr:+-adapterlr$adapter_lr}"
  [ -z "$targets" ] || run="$run-targets$( [ "${spec##*:}" = all ] && echo all || echo "${targets//,/+}")"
  if [ -f "$run/training-finetune.json" ]; then echo "$run: done before, kept"; continue; fi
  echo "== finetuning $run"
  rm -rf "$run"; cp -r "$pre/base" "$run"; rm -rf "$run/checkpoint-pretrain"
  t0=$(date +%s)
  lora_flags=(); [ "$lora" = 0 ] || lora_flags=(--lora-rank "$lora")
  [ -z "$adapter_lr" ] || lora_flags+=(--adapter-lr "$adapter_lr")
  [ -z "$targets" ] || lora_flags+=(--lora-targets "$targets")
  "$bin" finetune "$run" --epochs "$epochs" --lr "$lr" --lambda "$flambda" --head-input "$head" "${lora_flags[@]}" \
    --accumulate 1 --max-main-tokens 64 --content-every 0 --validate-every "$VALIDATE_EVERY" --seed "$SEED" --threads "$THREADS" > "$run/finetune.log" 2>&1 \
    || { echo "$run failed:"; tail -5 "$run/finetune.log"; continue; }
  echo "$(( $(date +%s) - t0 )) s" > "$run/finetune.seconds"
  tr '\r' '\n' < "$run/finetune.log" | grep -E "validation R@20" | sed 's/^/  /'
done
exit
}
