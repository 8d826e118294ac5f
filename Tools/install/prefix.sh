#!/usr/bin/env bash
# Installs cllm4rec for use from any directory: the release binary into PREFIX/bin and GPT-2's
# tokenizer files and config (the default --model / --tokenizer folder, Models/gpt2) into
# PREFIX/share/cllm4rec/gpt2, where the binary looks for them when ./Models/gpt2 does not exist.
# Usage: bash Tools/install/prefix.sh [PREFIX]   (default /usr/local; needs write access there)
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix="${1:-/usr/local}"
bash Tools/install/deps.sh
swift build -c release --product cllm4rec
bin="$(swift build -c release --show-bin-path)/cllm4rec"
install -d "$prefix/bin" "$prefix/share/cllm4rec/gpt2"
install -m 755 "$bin" "$prefix/bin/cllm4rec"
for f in config.json vocab.json merges.txt NOTICE; do install -m 644 "Models/gpt2/$f" "$prefix/share/cllm4rec/gpt2/$f"; done
# Real GPT-2 weights, when this checkout has them (Tools/fetch/gpt2.py), go along.
[ -f Models/gpt2/model.safetensors ] && install -m 644 Models/gpt2/model.safetensors "$prefix/share/cllm4rec/gpt2/model.safetensors"
echo "installed $prefix/bin/cllm4rec and $prefix/share/cllm4rec/gpt2/"
