"""Offline comparison of cold-item row rules on a dump of `cllm4rec evaluate RUN --split cold-items-val
--dump-cold FILE` (numpy only). It first reproduces the tool's text-map figures (a check of the dump and of
this script), then tries variants of the features and the map; whatever wins here is built into the tool
and measured there. Choose on cold-items-val only.

    python3 Tools/experiments/analyze_cold_rules.py RUN DUMP.safetensors
"""
import json, os, re, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dumps import read_safetensors

run, dump = sys.argv[1], sys.argv[2]

d = read_safetensors(dump)
splits = json.load(open(f"{run}/splits.json")); ids = json.load(open(f"{run}/ids.json"))
cold = splits["cold"]
cands = np.array(cold["validation_items"]); coldall = set(cold["validation_items"]) | set(cold["test_items"])
J = len(ids["items"]); warm = np.array([j for j in range(J) if j not in coldall])
users = d["users"].astype(int); H = d["head_inputs"].astype(np.float64); V = d["item_table"].astype(np.float64)
T = d["item_text"].astype(np.float64)
rel = [set(cold["validation"][u]) for u in users]
train = [set(splits["train"][u]) for u in users]

def metrics(scores):  # scores [users, len(cands)]
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = cands[order]
    r20 = r40 = nd = 0.0
    for k, u in enumerate(users):
        R = rel[k]; top = ranked[k]
        hits = np.array([i in R for i in top[:100]], dtype=float)
        r20 += hits[:20].sum() / min(20, len(R)); r40 += hits[:40].sum() / min(40, len(R))
        disc = 1 / np.log2(np.arange(2, 102))
        nd += (hits * disc[:len(hits)]).sum() / disc[:min(100, len(R))].sum()
    n = len(users)
    return r20 / n, r40 / n, nd / n

def ridge_map(X, ridge):
    Xw, Yw = X[warm], V[warm]
    mx, my = Xw.mean(0), Yw.mean(0)
    Xc, Yc = Xw - mx, Yw - my
    A = Xc.T @ Xc
    A += ridge * np.trace(A) / A.shape[0] * np.eye(A.shape[0])
    W = np.linalg.solve(A, Xc.T @ Yc)
    return (X[cands] - mx) @ W + my

def show(name, rows):
    m = metrics(H @ rows.T)
    print(f"{name:48s} {m[0]:.4f} {m[1]:.4f} {m[2]:.4f}  sum {sum(m):.4f}")

def tfidf():
    docs = [re.findall(r"[^\W_]+", (t or "").lower()) for t in ids["item_text"]]
    vocab = {w: i for i, w in enumerate(sorted({w for doc in docs for w in doc}))}
    tf = np.zeros((J, len(vocab)))
    for j, doc in enumerate(docs):
        for w in doc: tf[j, vocab[w]] += 1
    df = (tf > 0).sum(0); n = sum(1 for doc in docs if doc)
    v = tf * (np.log((1 + n) / (1 + df)) + 1)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

print(f"{len(users)} users, {len(cands)} candidates, {len(warm)} warm items; R@20 R@40 NDCG@100")
for r in [0.1, 1, 10]: show(f"text-map ridge {r} (the tool's)", ridge_map(T, r))
Z = (T - T[warm].mean(0)) / (T[warm].std(0) + 1e-6)
for r in [0.1, 1, 10, 100]: show(f"text-map standardized, ridge {r}", ridge_map(Z, r))
F = tfidf()
for r in [0.01, 0.1, 1]: show(f"tfidf-map ridge {r}", ridge_map(F, r))
for wt in [0.5, 1, 2]:
    C = np.hstack([Z / np.sqrt(Z.shape[1]), wt * F])
    for r in [0.1, 1]: show(f"[standardized text, {wt} x tfidf]-map ridge {r}", ridge_map(C, r))
# kNN baselines for reference
Tc = T - T.mean(0); Tc /= np.linalg.norm(Tc, axis=1, keepdims=True)
def knn(F):
    s = np.stack([F[cands] @ F[list(train[k])].T.mean(1) if False else (F[cands] @ F[list(train[k])].T).mean(1) for k in range(len(users))])
    return metrics(s)
print("llm-knn (the tool's)", ["%.4f" % x for x in knn(Tc)])
print("tfidf-knn (the tool's)", ["%.4f" % x for x in knn(F)])
