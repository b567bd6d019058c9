"""Benchmark client shapes for the probe batch: which HTTP layout probes a big fleet fastest.

    .venv/bin/python bench/probe_client.py [--instances 1000,10000] [--concurrency 100,1000]
        [--latency-ms 50-150] [--hang-share 0.05] [--timeout 5] [--shapes pools10,one,...]

Starts the gateway simulator in its own process (as a real gateway is: it never competes for
this process's GIL), then sends every ``connectionState`` probe once per shape, with at most
``--concurrency`` in flight and one overall deadline per probe (``asyncio.timeout``, which
also counts the wait for a pooled connection). For each shape and fleet it prints the wall
time, the CPU time this process spent, and the failed probes against the hanging instances:
a failure that is not a hanging instance is a false one. The shapes:

- ``pools10``: several httpx clients of 10 connections, one picked by a hash of the name
  (the client's layout before it sized itself);
- ``one``: one httpx client with ``concurrency`` connections;
- ``pools50``: httpx clients of 50 connections, picked by a hash of the name;
- ``workers``: ``concurrency`` worker tasks pulling names from one queue, each with its own
  one-connection httpx client (no shared pool to search, no hash imbalance);
- ``transport-workers``: the same workers, each on its own one-connection
  ``httpx.AsyncHTTPTransport`` (httpx's errors and responses, without the client's per-request
  machinery: URL merging, cookies, auth and redirect flows, event hooks);
- ``core-workers``: the same workers on httpcore's one-connection pools (the layer under
  httpx's transport, raw);
- ``aiohttp-workers``: the same workers on one aiohttp session with an unbounded connector
  (aiohttp parses HTTP in C): the client's layout now.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpcore
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

API_KEY = "bench-probe-key"
PREFIX = "bench-probe-"

TLS = httpx.create_ssl_context()


def names_for(count: int) -> list[str]:
    return [f"{PREFIX}{i:05d}" for i in range(1, count + 1)]


# --- the simulator in its own process ----------------------------------------------------------


def serve(count: int, latency: tuple[float, float], hang_share: float) -> int:
    """Child mode: serve ``count`` instances until stdin closes."""
    from instances.simulator import GatewaySimulator

    sim = GatewaySimulator(api_key=API_KEY, latency=latency, hang_share=hang_share, seed=7)
    for name in names_for(count):
        sim.add_instance(name, state="open")
    with sim:
        print(json.dumps({"url": sim.url, "hanging": sim.hanging()}), flush=True)
        sys.stdin.read()
    return 0


# --- the shapes --------------------------------------------------------------------------------


def httpx_client(url: str, connections: int, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        headers={"apikey": API_KEY},
        verify=TLS,  # one context for every client: building one costs ~20 ms
        timeout=httpx.Timeout(timeout, connect=min(2.0, timeout)),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def httpx_probe(client: httpx.AsyncClient, name: str, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            response = await client.get(f"/instance/connectionState/{name}")
        return response.status_code == 200 and "instance" in response.json()
    except (TimeoutError, httpx.HTTPError):
        return False


async def core_probe(pool: httpcore.AsyncConnectionPool, url: str, name: str, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            response = await pool.request(
                "GET", f"{url}/instance/connectionState/{name}", headers=[(b"apikey", API_KEY.encode())]
            )
        return response.status == 200 and "instance" in json.loads(response.content)
    except (TimeoutError, httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError):
        return False


async def hashed_pools(url: str, names: list[str], concurrency: int, timeout: float, size: int) -> int:
    """Semaphore of ``concurrency``; pools of ``size`` picked by a hash of the name."""
    slots = asyncio.Semaphore(concurrency)
    count = max(1, min(math.ceil(2 * concurrency / size), math.ceil(len(names) / 2)))
    clients = [httpx_client(url, size, timeout) for _ in range(count)]

    async def one(name: str) -> bool:
        async with slots:
            return await httpx_probe(clients[zlib.crc32(name.encode()) % count], name, timeout)

    try:
        return sum(not ok for ok in await asyncio.gather(*(one(n) for n in names)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def one_pool(url: str, names: list[str], concurrency: int, timeout: float) -> int:
    slots = asyncio.Semaphore(concurrency)
    async with httpx_client(url, concurrency, timeout) as client:

        async def one(name: str) -> bool:
            async with slots:
                return await httpx_probe(client, name, timeout)

        return sum(not ok for ok in await asyncio.gather(*(one(n) for n in names)))


async def transport_probe(transport: httpx.AsyncHTTPTransport, url: str, name: str, timeout: float) -> bool:
    request = httpx.Request("GET", f"{url}/instance/connectionState/{name}", headers={"apikey": API_KEY})
    try:
        async with asyncio.timeout(timeout):
            response = await transport.handle_async_request(request)
            await response.aread()
        return response.status_code == 200 and "instance" in response.json()
    except (TimeoutError, httpx.HTTPError):
        return False


async def workers(url: str, names: list[str], concurrency: int, timeout: float, core: str) -> int:
    queue = iter(names)
    failed = 0

    async def worker() -> None:
        nonlocal failed
        if core == "transport":
            async with httpx.AsyncHTTPTransport(verify=TLS, limits=httpx.Limits(max_connections=1)) as transport:
                for name in queue:
                    ok = await transport_probe(transport, url, name, timeout)
                    failed += not ok
        elif core:
            async with httpcore.AsyncConnectionPool(max_connections=1) as pool:
                for name in queue:
                    ok = await core_probe(pool, url, name, timeout)
                    failed += not ok
        else:
            async with httpx_client(url, 1, timeout) as client:
                for name in queue:
                    ok = await httpx_probe(client, name, timeout)
                    failed += not ok

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(names)))))
    return failed


async def aiohttp_workers(url: str, names: list[str], concurrency: int, timeout: float) -> int:
    queue = iter(names)
    failed = 0
    connector = aiohttp.TCPConnector(limit=0, ssl=TLS)
    async with aiohttp.ClientSession(url, headers={"apikey": API_KEY}, connector=connector) as session:

        async def worker() -> None:
            nonlocal failed
            for name in queue:
                try:
                    async with asyncio.timeout(timeout), session.get(f"/instance/connectionState/{name}") as answer:
                        body = await answer.read()
                    ok = answer.status == 200 and "instance" in json.loads(body)
                except (TimeoutError, aiohttp.ClientError):
                    ok = False
                failed += not ok

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(names)))))
    return failed


SHAPES: dict[str, Callable[[str, list[str], int, float], Awaitable[int]]] = {
    "pools10": lambda u, n, c, t: hashed_pools(u, n, c, t, 10),
    "one": one_pool,
    "pools50": lambda u, n, c, t: hashed_pools(u, n, c, t, 50),
    "workers": lambda u, n, c, t: workers(u, n, c, t, core=""),
    "transport-workers": lambda u, n, c, t: workers(u, n, c, t, core="transport"),
    "core-workers": lambda u, n, c, t: workers(u, n, c, t, core="core"),
    "aiohttp-workers": aiohttp_workers,
}


# --- running -----------------------------------------------------------------------------------


def measure(shape: str, url: str, names: list[str], concurrency: int, timeout: float) -> tuple[float, float, int]:
    """Return (wall seconds, CPU seconds of this process, failed probes)."""
    cpu = time.process_time()
    started = time.monotonic()
    failed = asyncio.run(SHAPES[shape](url, names, concurrency, timeout))
    return time.monotonic() - started, time.process_time() - cpu, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--concurrency", default="100,1000", help="probes in flight, comma-separated")
    parser.add_argument("--latency-ms", default="50-150")
    parser.add_argument("--hang-share", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of {', '.join(SHAPES)}")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        low, high = (float(part) / 1000 for part in args.latency_ms.split("-", 1))
        sizes = [int(n) for n in args.instances.split(",")]
        levels = [int(n) for n in args.concurrency.split(",")]
    except ValueError:
        parser.error("--latency-ms é MIN-MAX em ms; --instances e --concurrency são números separados por vírgula")
    shapes = args.shapes.split(",")
    if unknown := set(shapes) - set(SHAPES):
        parser.error(f"formas desconhecidas: {', '.join(sorted(unknown))}")
    if args.serve:
        return serve(args.serve, (low, high), args.hang_share)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(
        f"probe client: latência {args.latency_ms} ms, {args.hang_share:.0%} travadas, timeout {args.timeout:g}s, "
        f"limite de arquivos {soft}"
    )
    print(f"{'forma':<14}{'frota':>7}{'concorr.':>10}{'total':>9}{'CPU':>9}{'falhas':>8}{'travadas':>10}")
    for size in sizes:
        command = [sys.executable, __file__, "--serve", str(size), "--latency-ms", args.latency_ms]
        command += ["--hang-share", str(args.hang_share)]
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
        try:
            hello = json.loads(child.stdout.readline())
            names = names_for(size)
            hanging = set(hello["hanging"])
            names.sort(key=lambda n: n not in hanging)  # the likely hangers first, as the cycle does
            for concurrency in levels:
                for shape in shapes:
                    wall, cpu, failed = measure(shape, hello["url"], names, concurrency, args.timeout)
                    print(
                        f"{shape:<14}{size:>7}{concurrency:>10}{wall:>8.2f}s{cpu:>8.2f}s{failed:>8}{len(hanging):>10}",
                        flush=True,
                    )
        finally:
            child.stdin.close()
            child.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
