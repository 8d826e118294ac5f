#!/usr/bin/env python3
"""What a frozen backbone makes of new ID rows, per draw (docs/quality-study.md §3l).

Feeds MovieLens-100K collaborative documents (`user_u has interacted with <items>`, the user and items
as new rows, at most 128 tokens) of 150 users through a model folder with transformers, and prints per
draw of the new rows:
  - identity: a ridge probe (standardized channels) of "which item is at position t" from the hidden
    state at t, after layers 1, 6, 15, 29 and the final norm, trained on 105 users, accuracy on the
    other 45 (chance 0.001; items never seen by the probe's training users cap it below 1);
  - |h|: the mean norm of those hidden states (massive activations show as norms in the thousands);
  - at the last position (the head's input): mean pairwise cosine between users, participation ratio.
Draws: normal = N(0, 0.02²) (extend-vocab's default), vocabulary-mean = mean word row + N(0, 0.02²)
(--id-rows vocabulary-mean), normal-wordscale = N(0, s²) with s the word rows' norm / sqrt(width),
vocabulary = per-channel mean and std of the word rows, word-rows = copies of random word rows.
Needs torch and transformers (not the product's tests).

    python3 Tools/experiments/id_row_probe.py Models/smollm2-135m [DRAW ...] [--threads 2]
"""
import argparse
import numpy as np
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("model")
ap.add_argument("draws", nargs="*", default=["normal", "vocabulary-mean"])
ap.add_argument("--split", default="../shared/data/ml-100k-split/ml-100k.train.inter")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--users", type=int, default=150)
a = ap.parse_args()
torch.set_num_threads(a.threads)
model = LlamaForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32).eval()
tok = AutoTokenizer.from_pretrained(a.model)
hist = {}
for line in open(a.split).read().splitlines()[1:]:
    u, i = line.split("\t")[:2]
    hist.setdefault(u, []).append(i)
items = sorted({i for h in hist.values() for i in h})
idx = {i: k for k, i in enumerate(items)}
users = sorted(hist)
rng = np.random.default_rng(98765)
rng.shuffle(users)
users = users[:a.users]
d = model.config.hidden_size
E = model.get_input_embeddings().weight.detach()
mu = E.mean(0)


def draw(kind, n):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(n, d, generator=g)
    if kind == "normal": return z * 0.02
    if kind == "vocabulary-mean": return mu + z * 0.02
    if kind == "normal-wordscale": return z * (E.norm(dim=1).mean() / d ** 0.5)
    if kind == "vocabulary": return mu + z * (E - mu).std(0)
    if kind == "word-rows": return E[torch.randint(0, E.shape[0], (n,), generator=g)]
    raise SystemExit(f"unknown draw {kind}")


mid = tok(" has interacted with", add_special_tokens=False)["input_ids"]
layers = [1, 6, 15, 29, model.config.num_hidden_layers]
print(f"{a.model}: {len(users)} users, {len(items)} items; identity accuracy and mean |h| after layers {layers[:-1]} and the final norm")
for kind in a.draws:
    item_rows, user_rows = draw(kind, len(items)), draw(kind, len(users))
    feats = {l: [] for l in layers}; ident, owner, last = [], [], []
    with torch.no_grad():
        for ui, u in enumerate(users):
            its = [idx[i] for i in hist[u]][-(128 - 1 - len(mid)):]
            emb = torch.cat([user_rows[ui:ui + 1], E[mid], item_rows[its]])[None]
            hs = model.model(inputs_embeds=emb, output_hidden_states=True).hidden_states
            start = 1 + len(mid)
            pos = [p for p in range(start, start + len(its)) if rng.random() < 0.3]
            for l in layers: feats[l].append(hs[l][0, pos].numpy())
            last.append(hs[-1][0, -1].numpy())
            ident += [its[p - start] for p in pos]; owner += [ui] * len(pos)
    owner, ident = np.array(owner), np.array(ident)
    train = owner < int(0.7 * len(users)); test = ~train
    Y = np.zeros((len(ident), len(items)), np.float32); Y[np.arange(len(ident)), ident] = 1
    out = []
    for l in layers:
        X = np.concatenate(feats[l])
        m, s = X[train].mean(0), X[train].std(0) + 1e-6
        Z = np.hstack([(X - m) / s, np.ones((len(X), 1))])
        W = np.linalg.solve(Z[train].T @ Z[train] + np.eye(Z.shape[1]), Z[train].T @ Y[train])
        acc = ((Z[test] @ W).argmax(1) == ident[test]).mean()
        out.append(f"L{l} {acc:.2f} |h| {np.linalg.norm(X, axis=1).mean():.0f}")
    L = np.array(last); Ln = L / np.linalg.norm(L, axis=1, keepdims=True)
    cos = (Ln @ Ln.T)[np.triu_indices(len(L), 1)].mean()
    ev = np.linalg.eigvalsh((L - L.mean(0)).T @ (L - L.mean(0)))
    print(f"{kind:17s} " + "  ".join(out) + f"  | head input: cosine {cos:.2f}, participation ratio {ev.sum() ** 2 / (ev ** 2).sum():.1f}", flush=True)
