#!/usr/bin/env python3
"""Two recommenders' rankings averaged: does a second model add what a second run of the same
backbone would not? (issue 21, numpy only)

Each DUMP is written by `cllm4rec evaluate RUN --split val|test --dump FILE` on folders made from
the same dataset and split (folders made with another seed number users and items in another
order: they are matched by their ids). A pair ranks every item but the user's training
items by z(A) + z(B), z standardizing a user's scores over the candidates (head_inputs ·
item_tableᵀ, what `evaluate` ranks by); each model alone is the first rows (they reproduce
`evaluate`). Choose on validation dumps, read test dumps once:
    python3 Tools/experiments/ensemble_dumps.py NAME=RUN/dump-val.safetensors NAME=... [--ease]
"""
import argparse, itertools, json, os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dumps import check_dump, read_safetensors
from warm_text_blend import ease_scores, metrics, zscore


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dumps", nargs="+", metavar="NAME=FILE")
    ap.add_argument("--ease", action="store_true", help="also EASE (λ 200) alone and with each model")
    a = ap.parse_args()
    named = [x.split("=", 1) for x in a.dumps]
    for pair in named:
        if len(pair) != 2 or not pair[0]:
            sys.exit(f"{'='.join(pair)}: expected NAME=FILE")
        check_dump(pair[1])
    runs = {n: os.path.dirname(os.path.abspath(f)) for n, f in named}
    ids = {n: json.load(open(os.path.join(r, "ids.json"))) for n, r in runs.items()}
    first = named[0][0]
    split_name = "test" if "test" in os.path.basename(named[0][1]) else "validation"
    splits = json.load(open(os.path.join(runs[first], "splits.json")))
    dumps = {n: read_safetensors(f) for n, f in named}
    users = dumps[first]["users"].astype(int)
    # Every dump in the first folder's order of users and items, matched by their ids.
    def external_pairs(n, part):
        sp = json.load(open(os.path.join(runs[n], "splits.json")))
        return {(ids[n]["users"][u], ids[n]["items"][i]) for u, items in enumerate(sp[part]) for i in items}
    aligned = {}
    for n, d in dumps.items():
        if ids[n]["users"] == ids[first]["users"] and ids[n]["items"] == ids[first]["items"]:
            rows, cols = d["users"].astype(int), np.arange(d["item_table"].shape[0])
            if not np.array_equal(rows, users):
                sys.exit(f"{n}: not the same users in the same order as {first}")
            aligned[n] = (np.arange(len(users)), cols)
            continue
        if set(ids[n]["users"]) != set(ids[first]["users"]) or set(ids[n]["items"]) != set(ids[first]["items"]):
            sys.exit(f"{n}: its folder holds other users or items than {first}'s")
        for part in ("train", split_name):
            if external_pairs(n, part) != external_pairs(first, part):
                sys.exit(f"{n}: its {part} split differs from {first}'s")
        user_index = {e: k for k, e in enumerate(ids[n]["users"])}
        item_index = {e: k for k, e in enumerate(ids[n]["items"])}
        row_of = {u: r for r, u in enumerate(d["users"].astype(int))}
        rows = np.array([row_of[user_index[ids[first]["users"][u]]] for u in users])
        cols = np.array([item_index[e] for e in ids[first]["items"]])
        aligned[n] = (rows, cols)
    train = [splits["train"][u] for u in users]
    relevant = [splits[split_name][u] for u in users]
    J = dumps[first]["item_table"].shape[0]
    mask = np.zeros((len(users), J), dtype=bool)
    for k, h in enumerate(train):
        mask[k, h] = True
    z = {}
    for n, d in dumps.items():
        rows, cols = aligned[n]
        scores = d["head_inputs"].astype(np.float64)[rows] @ d["item_table"].astype(np.float64)[cols].T
        z[n] = zscore(scores, mask)
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
