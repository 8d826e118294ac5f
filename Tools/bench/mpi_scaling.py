#!/usr/bin/env python3
"""On paper: how data-parallel cllm4rec would scale to 8, 32 and 128 nodes on 10 and 25 Gb/s
Ethernet, from figures measured here (Tools/bench/mpi.sh and `benchmarks allreduce`).

    python3 Tools/bench/mpi_scaling.py --step-seconds 2.5 --micro-batch-docs 20

Model (stated, not measured at that scale):
- compute: one micro-batch of 20 documents takes `step_seconds` on one node (measured on this
  machine's 2 vCPUs; pass a node's own figure); each node computes `accumulate` micro-batches per
  optimizer step, so a step's compute time does not change with the number of nodes N, while the
  global batch is N x accumulate x 20 documents (as the reference's 8 GPUs x 20);
- communication: the whole user and item gradient tables, (users + items) x 768 floats, are summed
  with a ring allreduce: 2 (N - 1) / N x bytes / bandwidth + 2 (N - 1) x latency (50 us per hop),
  not overlapped with compute; the link's payload rate is 90% of its line rate;
- efficiency = compute / (compute + communication) per step; wall time of a schedule = its total
  micro-batches / (N x accumulate) steps x (compute + communication).
"""
import argparse

p = argparse.ArgumentParser()
p.add_argument("--step-seconds", type=float, required=True, help="seconds per micro-batch of 20 documents on one node")
p.add_argument("--accumulate", type=int, default=1)
p.add_argument("--latency-us", type=float, default=50)
a = p.parse_args()

datasets = {
    # name: users, items, training interactions, review documents (content documents are these plus
    # one description per user and per item)
    "MovieLens-1M": (6040, 3416, 575_000, 0),  # content: the user and item descriptions only
    "Amazon Beauty": (10553, 6086, 75_000, 94_148),  # content: one document per review
}
width = 768
nodes = [8, 32, 128]
links = {"10 Gb/s": 10e9 / 8 * 0.9, "25 Gb/s": 25e9 / 8 * 0.9}
print(f"one micro-batch (20 documents) = {a.step_seconds:.2f} s of compute on a node; accumulate {a.accumulate} per node and step\n")
print(f"{'dataset':15s} {'link':8s} " + " ".join(f"{'N=' + str(n) + ' eff':>10s} {'allreduce ms':>13s}" for n in nodes))
for name, (users, items, inter, reviews) in datasets.items():
    nbytes = (users + items) * width * 4
    for link, bw in links.items():
        cells = []
        for n in nodes:
            comm = 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * a.latency_us * 1e-6
            comp = a.accumulate * a.step_seconds
            cells.append(f"{100 * comp / (comp + comm):9.1f}% {1000 * comm:13.1f}")
        print(f"{name:15s} {link:8s} " + " ".join(cells))

print("\nwall time of the reference schedule (10 warm-up content epochs, 100 rounds of a collaborative and a")
print("content epoch, 150 finetuning epochs with a recommendation and a content epoch each), 25 Gb/s:")
for name, (users, items, inter, reviews) in datasets.items():
    collab = -(-users // 20)  # one collaborative document per user
    content = -(-(reviews + users + items) // 20)
    rec = -(-users // 20)
    total = 10 * content + 100 * (collab + content) + 150 * (rec + content)
    nbytes = (users + items) * width * 4
    for n in [8, 32]:
        steps = total / (n * a.accumulate)
        comm = 2 * (n - 1) / n * nbytes / links["25 Gb/s"] + 2 * (n - 1) * a.latency_us * 1e-6
        hours = steps * (a.accumulate * a.step_seconds + comm) / 3600
        print(f"  {name:15s} N={n:3d}: {total:,} micro-batches, {steps:,.0f} steps, {hours:,.1f} h")
