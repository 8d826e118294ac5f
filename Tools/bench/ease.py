#!/usr/bin/env python3
"""EASE fitting time at J = 3,000 and 6,000 items: `benchmarks ease` (this project: Gram matrix, LAPACK
dpotrf + dpotri from OpenBLAS in one J x J Double buffer) next to the usual numpy implementation
(G = XᵀX + λI; P = np.linalg.inv(G); B = -P / diag(P)), same synthetic data shape (20,000 users, 30
items each, skewed popularity), same thread count, one run. Needs numpy and scipy (for the sparse X).
Usage: python3 Tools/bench/ease.py [--items 3000,6000] [--threads 2]
"""
import argparse, os, subprocess, time

p = argparse.ArgumentParser()
p.add_argument("--items", default="3000,6000")
p.add_argument("--users", type=int, default=20000)
p.add_argument("--per-user", type=int, default=30)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
import numpy as np
import scipy.sparse as sp

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
subprocess.run(["swift", "build", "-c", "release", "--product", "benchmarks"], cwd=root, check=True, stdout=subprocess.DEVNULL)
binpath = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=root, check=True, capture_output=True, text=True).stdout.strip()
print("== this project")
subprocess.run([binpath + "/benchmarks", "ease", "--items", a.items, "--users", str(a.users), "--per-user", str(a.per_user),
                "--threads", str(a.threads)], check=True)
print("== numpy", np.__version__, "(np.linalg.inv, float64)")
rng = np.random.default_rng(7)
for j in [int(x) for x in a.items.split(",")]:
    w = 1 / (np.arange(j) + 10.0)
    w /= w.sum()
    rows, cols = [], []
    for u in range(a.users):
        items = rng.choice(j, size=min(a.per_user, j), replace=False, p=w)
        rows += [u] * len(items)
        cols += list(items)
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(a.users, j))
    t0 = time.time()
    g = (x.T @ x).toarray()
    g[np.diag_indices(j)] += 200
    pmat = np.linalg.inv(g)
    b = -pmat / np.diag(pmat)
    b[np.diag_indices(j)] = 0
    print(f"J = {j:5d}: fit {time.time() - t0:.2f} s")
