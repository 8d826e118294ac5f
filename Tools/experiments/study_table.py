#!/usr/bin/env python3
"""Tabulates the runs of Tools/experiments/study_recipe.sh: one row per finetuning run, from its metrics.jsonl
(the best validated epoch by the reference's criterion, Recall@20 + Recall@40 + NDCG@100, and the
collapse diagnostic there), training-finetune.json and, where it was read, evaluation-test.json.
Also prints every run's validation curve (epoch: R@20 / overlap / rank).

    python3 Tools/experiments/study_table.py [OUT]      (default Runs/study)
"""
import json, os, sys

out = sys.argv[1] if len(sys.argv) > 1 else "Runs/study"
rows, curves = [], []
for pre in sorted(os.listdir(out)):
    pdir = os.path.join(out, pre)
    if not os.path.isdir(pdir) or not os.path.isdir(os.path.join(pdir, "base")):
        continue
    for run in sorted(os.listdir(pdir)):
        rdir = os.path.join(pdir, run)
        mpath = os.path.join(rdir, "metrics.jsonl")
        if run == "base" or not os.path.exists(mpath):
            continue
        lines = [json.loads(l) for l in open(mpath)]
        fine = [l for l in lines if l["stage"] == "finetune"]
        val = [l for l in fine if "val_recall@20" in l]
        if not val:
            continue
        rec_epochs = [l for l in fine if l["kind"] == "recommendation"]
        def ordinal(l):
            return 1 + [x["epoch"] for x in rec_epochs].index(l["epoch"])
        best = max(val, key=lambda l: l["val_recall@20"] + l["val_recall@40"] + l["val_ndcg@100"])
        seconds = sum(l["seconds"] for l in fine)
        finished = os.path.exists(os.path.join(rdir, "training-finetune.json"))
        test = ""
        tpath = os.path.join(rdir, "evaluation-test.json")
        if os.path.exists(tpath):
            m = json.load(open(tpath))["results"][0]["metrics"]
            test = f"{m['recall@20']:.4f} / {m['recall@40']:.4f} / {m['ndcg@100']:.4f}"
        rows.append(f"| {pre} | {run} | {ordinal(best)}/{len(rec_epochs)}{'' if finished else ' (running)'} | "
                    f"{best['val_recall@20']:.4f} | {best['val_recall@40']:.4f} | {best['val_ndcg@100']:.4f} | "
                    f"{best.get('val_popularity_overlap@20', float('nan')):.2f} | {best.get('val_head_input_rank', float('nan')):.1f} | "
                    f"{best.get('val_head_input_shared', float('nan')):.2f} | {seconds / 60:.0f} | {test} |")
        curves.append(f"{pre}/{run}: " + ", ".join(
            f"e{ordinal(l)} {l['val_recall@20']:.4f}/{l.get('val_popularity_overlap@20', float('nan')):.2f}/{l.get('val_head_input_rank', float('nan')):.1f}"
            for l in val))
print("| pretraining | finetuning | best epoch | val R@20 | val R@40 | val NDCG@100 | popularity overlap@20 | head-input rank | shared | finetune min | test R@20 / R@40 / NDCG@100 |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
print("\nvalidation curves (epoch R@20 / popularity overlap / head-input rank):")
print("\n".join(curves))
