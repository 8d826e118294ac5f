#!/usr/bin/env python3
"""Does the backbone's reading of the item texts add to a warm ranking? (issue 21, numpy only)

Reads `cllm4rec evaluate RUN --split val|test --dump FILE` (users, head_inputs, item_table, item_text)
and the folder's splits, and ranks every item but the user's training items by
    z(base) + alpha * z(kNN)
where z standardizes a user's scores over the candidate items, base is the model's head
(head_inputs · item_tableᵀ, what `evaluate` ranks by) or EASE (λ 200, on the same training pairs),
and kNN is a content score: the mean cosine of an item to the user's training items, over
  llm   the backbone's reading of each item's text (mean final hidden state, centred), as llm-knn;
  tfidf TF-IDF of the same texts (lower-cased letter/digit runs, smoothed idf), as tfidf-knn.
alpha = 0 is the base alone (the model's row reproduces `evaluate`). Choose alpha on validation,
read test once with the chosen one:
    python3 Tools/experiments/warm_text_blend.py RUN/dump-val.safetensors
    python3 Tools/experiments/warm_text_blend.py RUN/dump-test.safetensors --only BASE:KNN:ALPHA
"""
import argparse, json, os, re, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dumps import check_dump, read_safetensors


def zscore(s, mask):
    """Per-row standardization over the candidates (mask True = excluded)."""
    m = np.ma.array(s, mask=mask)
    mu, sd = m.mean(axis=1, keepdims=True).filled(0), m.std(axis=1, keepdims=True).filled(1)
    return (s - mu) / np.maximum(sd, 1e-12)


def knn(unit_rows, histories):
    """Mean cosine of every item to each user's training items ([U, J])."""
    sim = unit_rows @ unit_rows.T
    return np.stack([sim[h].mean(axis=0) if len(h) else np.zeros(sim.shape[0]) for h in histories])


def tfidf_rows(texts):
    docs = [re.findall(r"[a-z0-9]+", t.lower()) for t in texts]
    vocab = {w: i for i, w in enumerate(sorted({w for d in docs for w in d}))}
    tf = np.zeros((len(docs), len(vocab)))
    for i, d in enumerate(docs):
        for w in d:
            tf[i, vocab[w]] += 1
    df = (tf > 0).sum(axis=0)
    x = tf * (np.log((1 + len(docs)) / (1 + df)) + 1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def ease_scores(histories, items, lam=200.0):
    X = np.zeros((len(histories), items))
    for u, h in enumerate(histories):
        X[u, h] = 1
    G = X.T @ X + lam * np.eye(items)
    P = np.linalg.inv(G)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0)
    return X @ B


def metrics(scores, mask, relevant):
    s = np.where(mask, -np.inf, scores)
    order = np.argsort(-s, axis=1)[:, :100]
    r20 = r40 = nd = 0.0
    for u, rel in enumerate(relevant):
        rel = set(rel)
        hits = np.array([i in rel for i in order[u]], dtype=float)
        r20 += hits[:20].sum() / min(20, len(rel))
        r40 += hits[:40].sum() / min(40, len(rel))
        disc = 1 / np.log2(np.arange(2, 102))
        nd += (hits * disc).sum() / disc[:min(100, len(rel))].sum()
    n = len(relevant)
    return r20 / n, r40 / n, nd / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump", help="a file written by `cllm4rec evaluate RUN --split val|test --dump FILE` (RUN: its folder)")
    ap.add_argument("--run", help="the recommender folder (default: the dump's folder)")
    ap.add_argument("--alphas", default="0,0.05,0.1,0.2,0.3,0.5,1")
    ap.add_argument("--only", help="BASE:KNN:ALPHA, e.g. model:llm:0.2 (for the test read)")
    a = ap.parse_args()
    if a.run is None:
        check_dump(a.dump)
    run = a.run or os.path.dirname(os.path.abspath(a.dump))
    d = read_safetensors(a.dump)
    splits = json.load(open(os.path.join(run, "splits.json")))
    ids = json.load(open(os.path.join(run, "ids.json")))
    users = d["users"].astype(int)
    split = "test" if "test" in os.path.basename(a.dump) else "validation"
    train = [splits["train"][u] for u in users]
    relevant = [splits[split][u] for u in users]
    J = d["item_table"].shape[0]
    mask = np.zeros((len(users), J), dtype=bool)
    for k, h in enumerate(train):
        mask[k, h] = True
    model = d["head_inputs"].astype(np.float64) @ d["item_table"].astype(np.float64).T
    all_train = splits["train"]
    ease = ease_scores(all_train, J)[users]
    F = d["item_text"].astype(np.float64)
    F = F - F.mean(axis=0)
    F /= np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    T = tfidf_rows(ids["item_text"])
    knns = {"llm": knn(F, train), "tfidf": knn(T, train)}
    knns["llm+tfidf"] = None
    bases = {"model": model, "ease": ease}
    print(f"{a.dump}: {len(users)} users, {J} items, split {split}")
    print(f"{'base':6s} {'kNN':10s} {'alpha':>6s}  R@20    R@40    NDCG@100  sum")
    only = a.only.split(":") if a.only else None
    for bname, base in bases.items():
        zb = zscore(base, mask)
        for kname in knns:
            if kname == "llm+tfidf":
                zk = zscore(knns["llm"], mask) + zscore(knns["tfidf"], mask)
            else:
                zk = zscore(knns[kname], mask)
            for alpha in [float(x) for x in a.alphas.split(",")]:
                if only and (bname, kname, float(only[2])) != (only[0], only[1], alpha):
                    continue
                if alpha == 0 and kname != "llm" and not only:
                    continue
                r = metrics(zb + alpha * zk, mask, relevant)
                print(f"{bname:6s} {kname if alpha else '-':10s} {alpha:6.2f}  {r[0]:.4f}  {r[1]:.4f}  {r[2]:.4f}  {sum(r):.4f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
