#!/usr/bin/env python3
"""Two recommenders' rankings averaged: does a second model add what a second run of the same
backbone would not? (issue 21, numpy only)

Each DUMP is written by `cllm4rec evaluate RUN --split val|test --dump FILE` on folders made from
the same dataset and split (the same ids.json). A pair ranks every item but the user's training
items by z(A) + z(B), z standardizing a user's scores over the candidates (head_inputs ·
item_tableᵀ, what `evaluate` ranks by); each model alone is the first rows (they reproduce
`evaluate`). Choose on validation dumps, read test dumps once:
    python3 Tools/experiments/ensemble_dumps.py NAME=RUN/dump-val.safetensors NAME=... [--ease]
"""
import argparse, itertools, json, os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from warm_text_blend import ease_scores, metrics, read_safetensors, zscore


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dumps", nargs="+", metavar="NAME=FILE")
    ap.add_argument("--ease", action="store_true", help="also EASE (λ 200) alone and with each model")
    a = ap.parse_args()
    named = [x.split("=", 1) for x in a.dumps]
    runs = {n: os.path.dirname(os.path.abspath(f)) for n, f in named}
    ids = {n: json.load(open(os.path.join(r, "ids.json"))) for n, r in runs.items()}
    first = named[0][0]
    for n in ids:
        if ids[n] != ids[first]:
            sys.exit(f"{n}: its folder's ids.json differs from {first}'s: the rankings are not of the same items")
    split_name = "test" if "test" in os.path.basename(named[0][1]) else "validation"
    splits = json.load(open(os.path.join(runs[first], "splits.json")))
    dumps = {n: read_safetensors(f) for n, f in named}
    users = dumps[first]["users"].astype(int)
    for n, d in dumps.items():
        if not np.array_equal(d["users"].astype(int), users):
            sys.exit(f"{n}: not the same users in the same order as {first}")
    train = [splits["train"][u] for u in users]
    relevant = [splits[split_name][u] for u in users]
    J = dumps[first]["item_table"].shape[0]
    mask = np.zeros((len(users), J), dtype=bool)
    for k, h in enumerate(train):
        mask[k, h] = True
    z = {n: zscore(d["head_inputs"].astype(np.float64) @ d["item_table"].astype(np.float64).T, mask) for n, d in dumps.items()}
    if a.ease:
        z["ease"] = zscore(ease_scores(splits["train"], J)[users], mask)
    print(f"{len(users)} users, {J} items, split {split_name}")
    print(f"{'models':40s}  R@20    R@40    NDCG@100  sum")
    def row(name, s):
        r = metrics(s, mask, relevant)
        print(f"{name:40s}  {r[0]:.4f}  {r[1]:.4f}  {r[2]:.4f}  {sum(r):.4f}", flush=True)
    for n in z:
        row(n, z[n])
    for x, y in itertools.combinations(z, 2):
        row(f"{x} + {y}", z[x] + z[y])


if __name__ == "__main__":
    sys.exit(main())
