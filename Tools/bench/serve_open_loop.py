#!/usr/bin/env python3
"""Open-loop load on `cllm4rec serve` (issue 24): requests arrive at a fixed rate whatever the
server does (a closed-loop tool such as wrk slows down with the server and hides queueing), each on
its own connection; per rate: answered, shed (503), p50/p99 latency of each, and how fast a shed
request is told.

  python3 Tools/bench/serve_open_loop.py --bin BIN --rec RECDIR [--rates 5,10,20,40] [--seconds 10]
      [--kind known|history|known-with-reviews] [--serve-flags "..."] [--label NAME]

known               GET /v1/users/ID/recommendations?k=20, users drawn at random
history             POST /v1/recommendations with 20 random items (fold-in)
known-with-reviews  the known-user GETs while --reviews reviews of --review-tokens tokens stream
                    (started a second before the GETs)
Python's standard library only. Prints one Markdown row per rate, with the CPU.
"""
import argparse, asyncio, json, os, random, re, statistics, subprocess, sys, time


import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import cpu, http  # noqa: E402


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def run_rate(port, rate, seconds, make):
    tasks, t0 = [], time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        method, path, body = make()
        tasks.append(asyncio.create_task(http(port, method, path, body)))
    return await asyncio.gather(*tasks)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rec", required=True)
    ap.add_argument("--rates", default="5,10,20,40")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--kind", default="known", choices=["known", "history", "known-with-reviews"])
    ap.add_argument("--serve-flags", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--port", type=int, default=18090)
    ap.add_argument("--label", default="")
    ap.add_argument("--reviews", type=int, default=16)
    ap.add_argument("--review-tokens", type=int, default=512)
    a = ap.parse_args()
    ids = json.load(open(os.path.join(a.rec, "ids.json")))
    users, items = ids["users"], ids["items"]
    cmd = [a.bin, "serve", a.rec, "--port", str(a.port), "--threads", str(a.threads)] + a.serve_flags.split()
    log = open("/tmp/bench_serve_open_loop.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        for _ in range(1200):
            if "listening on" in open("/tmp/bench_serve_open_loop.log").read():
                break
            time.sleep(0.1)
        # Wait until known users are precomputed (when the server does it).
        for _ in range(3000):
            s, _, body = await http(a.port, "GET", "/v1/info")
            info = json.loads(body.split(b"\r\n\r\n", 1)[1]) if s == 200 else {}
            if not info.get("serving", {}).get("precompute_users") or info.get("precomputed_users") == info.get("users"):
                break
            await asyncio.sleep(0.2)
        rng = random.Random(7)

        def known():
            return "GET", f"/v1/users/{rng.choice(users)}/recommendations?k=20", None

        def history():
            h = [rng.choice(items) for _ in range(20)]
            return "POST", "/v1/recommendations", json.dumps({"history": h, "k": 20})

        reviews = []
        if a.kind == "known-with-reviews":
            for i in range(a.reviews):
                body = json.dumps({"user": rng.choice(users), "item": rng.choice(items), "max_new_tokens": a.review_tokens, "temperature": 1, "seed": i})
                reviews.append(asyncio.create_task(http(a.port, "POST", "/v1/reviews", body, timeout=3600)))
            await asyncio.sleep(1.0)
        make = history if a.kind == "history" else known
        print(f"CPU: {cpu()}; {a.threads} threads; serve {' '.join(cmd[2:])}; open loop, {a.seconds:g} s per rate, kind {a.kind} {a.label}")
        print("| rate (req/s) | sent | 200 | 503 | other | p50 ms (200) | p99 ms (200) | p50 ms (503) | p99 ms (503) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for rate in [float(r) for r in a.rates.split(",")]:
            res = await run_rate(a.port, rate, a.seconds, make)
            ok = [t * 1000 for s, t, _ in res if s == 200]
            shed = [t * 1000 for s, t, _ in res if s == 503]
            other = len(res) - len(ok) - len(shed)
            print(f"| {rate:g} | {len(res)} | {len(ok)} | {len(shed)} | {other} | {pct(ok, 50):.1f} | {pct(ok, 99):.1f} | {pct(shed, 50):.1f} | {pct(shed, 99):.1f} |", flush=True)
        if reviews:
            done = await asyncio.gather(*reviews)
            print(f"reviews: {sum(1 for s, _, _ in done if s == 200)} streamed, {sum(1 for s, _, _ in done if s == 503)} refused 503; slowest {max(t for _, t, _ in done):.1f} s")
    finally:
        server.terminate()
        server.wait(30)


asyncio.run(main())
