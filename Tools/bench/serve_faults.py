#!/usr/bin/env python3
"""Faults on `cllm4rec serve` (issue 24), Python's standard library only:

slow     N connections that send a request head one byte every 2 s (slowloris; `--part body`:
         a whole POST head, then its 60 KB body one byte every 2 s) while /healthz is asked on a
         fresh connection every 0.2 s: its answers, p50/max latency, and failures; then SIGTERM:
         seconds until the server exits.
reload   known-user and fold-in requests at a steady rate while the server gets SIGHUP every
         0.5 s, K times: requests answered, failed, and the model versions seen.

  python3 Tools/bench/serve_faults.py --bin BIN --rec RECDIR slow [--connections 1000] [--seconds 20]
  python3 Tools/bench/serve_faults.py --bin BIN --rec RECDIR reload [--reloads 100] [--rate 10]
"""
import argparse, asyncio, json, os, random, re, resource, signal, subprocess, time


import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import cpu, http  # noqa: E402


def start(a, extra):
    log = open("/tmp/bench_serve_faults.log", "w")
    p = subprocess.Popen([a.bin, "serve", a.rec, "--port", str(a.port), "--threads", str(a.threads)] + extra, stdout=log, stderr=log)
    for _ in range(1200):
        if "listening on" in open("/tmp/bench_serve_faults.log").read():
            return p
        time.sleep(0.1)
    raise SystemExit(open("/tmp/bench_serve_faults.log").read())


async def slow(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * a.connections + 256)), hard))
    p = start(a, a.serve_flags.split())
    held, opened = [], 0

    async def loris():
        nonlocal opened
        try:
            r, w = await asyncio.open_connection("127.0.0.1", a.port)
        except OSError:
            return
        opened += 1
        held.append(w)
        if a.part == "body":
            head = "POST /v1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"
            w.write(head.encode())
            dribble = "[" * 1000
        else:
            dribble = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: " + "b" * 1000
        for ch in dribble:
            try:
                w.write(ch.encode()); await w.drain()
            except (ConnectionError, OSError):
                return
            await asyncio.sleep(2)

    tasks = [asyncio.create_task(loris()) for _ in range(a.connections)]
    await asyncio.sleep(2)
    lat, fails, t0 = [], 0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        s, t, _ = await http(a.port, "GET", "/healthz", timeout=5)
        if s == 200:
            lat.append(t * 1000)
        else:
            fails += 1
        await asyncio.sleep(0.2)
    lat.sort()
    print(f"CPU: {cpu()}; serve {' '.join(a.serve_flags.split())}; {a.connections} slow connections dribbling their {a.part} ({opened} accepted by the kernel)")
    print(f"/healthz during the attack: {len(lat)} answered, {fails} failed; p50 {lat[len(lat) // 2] if lat else float('nan'):.1f} ms, max {lat[-1] if lat else float('nan'):.1f} ms")
    t = time.perf_counter()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(120)
        print(f"SIGTERM with the slow connections open: exited in {time.perf_counter() - t:.2f} s, status {p.returncode}")
    except subprocess.TimeoutExpired:
        print("SIGTERM: still running after 120 s"); p.kill()
    for x in tasks:
        x.cancel()


async def reload(a):
    p = start(a, a.serve_flags.split())
    ids = json.load(open(os.path.join(a.rec, "ids.json")))
    rng = random.Random(3)
    stop = False
    statuses, versions = {}, set()

    async def load():
        i = 0
        while not stop:
            if i % 4 == 3:
                body = json.dumps({"history": [rng.choice(ids["items"]) for _ in range(10)], "k": 10})
                s, _, _ = await http(a.port, "POST", "/v1/recommendations", body, timeout=120)
            else:
                s, _, _ = await http(a.port, "GET", f"/v1/users/{rng.choice(ids['users'])}/recommendations?k=10", timeout=120)
            statuses[s] = statuses.get(s, 0) + 1
            i += 1
            await asyncio.sleep(1 / a.rate)

    async def info():
        while not stop:
            s, _, raw = await http(a.port, "GET", "/v1/info")
            if s == 200:
                versions.add(json.loads(raw.split(b"\r\n\r\n", 1)[1])["model"]["version"])
            await asyncio.sleep(0.25)

    workers = [asyncio.create_task(load()) for _ in range(4)] + [asyncio.create_task(info())]
    for _ in range(a.reloads):
        p.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)
    stop = True
    await asyncio.gather(*workers)
    log = open("/tmp/bench_serve_faults.log").read()
    print(f"CPU: {cpu()}; {a.reloads} SIGHUPs every 0.5 s under load (4 clients, {a.rate:g} requests/s each, one in four a fold-in)")
    print(f"requests by status: {dict(sorted(statuses.items()))}; model versions seen by /v1/info: {min(versions)}..{max(versions)} ({len(versions)} distinct); reloads logged: {log.count('reloaded ')}, failed: {log.count('reload of ')}")
    p.terminate(); p.wait(60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rec", required=True)
    ap.add_argument("--port", type=int, default=18091)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--serve-flags", default="")
    ap.add_argument("what", choices=["slow", "reload"])
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--part", choices=["head", "body"], default="head", help="slow: what the slow connections dribble")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--reloads", type=int, default=100)
    ap.add_argument("--rate", type=float, default=10)
    a = ap.parse_args()
    asyncio.run(slow(a) if a.what == "slow" else reload(a))


main()
