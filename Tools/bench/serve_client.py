"""What the serve benchmarks share (Python's standard library only): the CPU's name and one HTTP/1.1
request on its own connection."""
import asyncio, re, time


def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


async def http(port, method, path, body=None, timeout=120.0):
    """One request on a new connection to 127.0.0.1:port: (status or -1, seconds, raw response)."""
    start = time.perf_counter()
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        data = body.encode() if body else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        w.write(head.encode() + b"\r\n" + data)
        await w.drain()
        raw = await asyncio.wait_for(r.read(), timeout)
        w.close()
        m = re.match(rb"HTTP/1\.1 (\d+)", raw)
        return (int(m.group(1)) if m else -1), time.perf_counter() - start, raw
    except (asyncio.TimeoutError, OSError):
        return -1, time.perf_counter() - start, b""
