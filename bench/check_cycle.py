"""Benchmark the check cycle: a simulated fleet with slow and hanging instances, probed end to end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/check_cycle.py \\
        [--instances 1000] [--latency-ms 50-150] [--hang-share 0.05] [--timeout 5] [--cycles 3]

Starts the gateway simulator on loopback with the fleet (names ``bench-cycle-NNNN``), then runs
the real ``run_cycle``: first a discovery cycle (every instance is new), then steady cycles,
the last one with a few bans injected. For each it prints the wall time against the target
(probe timeout + 2 s) and the SQL queries of each phase: read, network (must be 0), write.
It refuses a database that holds any other instance or a live monitor, and deletes its
instances and cycles at the end.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _setup import check_existing_database

ROOT = Path(__file__).resolve().parent.parent
BENCH_PREFIX = "bench-cycle-"
API_KEY = "bench-cycle-key"
TARGET_MARGIN = 2.0
BANS_IN_LAST_CYCLE = 10


@dataclass
class Measure:
    label: str
    wall: float = 0.0
    network: float = 0.0
    read: float = 0.0
    queries_read: int = 0
    queries_network: int = 0
    queries_write: int = 0
    summary: Any = None
    plan: str = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="simulated instances (default 1000)")
    parser.add_argument("--latency-ms", default="50-150", help="answer latency range in ms (default 50-150)")
    parser.add_argument("--hang-share", type=float, default=0.05, help="share of hanging instances (default 0.05)")
    parser.add_argument("--timeout", type=float, default=5.0, help="probe timeout in seconds (default 5)")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="cap on probes in flight (default 0: sized from the fleet)"
    )
    parser.add_argument("--cycles", type=int, default=3, help="steady cycles after discovery (default 3)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--in-process", action="store_true", help="run the simulator in this process (default: its own process)"
    )
    parser.add_argument("--serve-simulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        low, high = (float(part) / 1000 for part in args.latency_ms.split("-", 1))
    except ValueError:
        parser.error("--latency-ms deve ser MIN-MAX em ms, ex. 50-150")
    if (
        args.instances < 1
        or args.cycles < 1
        or not 0 <= args.hang_share <= 1
        or args.timeout <= 0
        or low > high
        or args.concurrency < 0
    ):
        parser.error(
            "valores inválidos: --instances/--cycles >= 1, 0 <= --hang-share <= 1, --timeout > 0, --concurrency >= 0"
        )
    if args.serve_simulator:
        return serve_simulator(args, (low, high))
    stop = check_existing_database(setup_django, refuse_reason)
    if stop is not None:
        return stop
    with kept_circuit_state(), cleanup():
        return run(args, (low, high), sys.argv[1:] if argv is None else argv)


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "julia_monitor.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.DEBUG = False  # as in production: no per-query debug log


def refuse_reason() -> str:
    """Return why this database must not be used, or "" if it holds no real data."""
    from datetime import timedelta

    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from instances.models import CheckCycle, Instance, MonitorLease

    missing = sorted(
        {m._meta.db_table for m in apps.get_models() if m._meta.managed} - set(connection.introspection.table_names())
    )
    if missing:
        return f"banco sem as tabelas {', '.join(missing)}: rode `manage.py migrate` nele antes"
    others = Instance.objects.exclude(name__startswith=BENCH_PREFIX).count()
    if others:
        return f"o banco tem {others} instâncias que não são do benchmark; use um banco vazio"
    if CheckCycle.objects.filter(finished_at__gte=timezone.now() - timedelta(minutes=10)).exists():
        return "um monitor real rodou um ciclo neste banco nos últimos 10 minutos; use um banco vazio"
    if MonitorLease.objects.filter(name="check-cycle", expires_at__gt=timezone.now()).exists():
        return "há um ciclo de verificação em andamento neste banco"
    Instance.objects.filter(name__startswith=BENCH_PREFIX).delete()  # leftovers of a killed run
    call_command("createcachetable", verbosity=0)  # circuit state without Redis
    return ""


@contextmanager
def kept_circuit_state() -> Iterator[None]:
    """Leave the shared "gateway" circuit as we found it (it may be shared through Redis)."""
    from django.core.cache import caches

    from julia_monitor.lib.circuits import CircuitBreaker

    key = CircuitBreaker("gateway").key
    before = caches["shared"].get(key)
    caches["shared"].delete(key)
    try:
        yield
    finally:
        if before is None:
            caches["shared"].delete(key)
        else:
            caches["shared"].set(key, before, timeout=None)


CREATED_CYCLES: list[int] = []


@contextmanager
def cleanup() -> Iterator[None]:
    from instances.models import CheckCycle, Instance, MonitorLease

    had_lease = MonitorLease.objects.filter(name="check-cycle").exists()
    try:
        yield
    finally:
        Instance.objects.filter(name__startswith=BENCH_PREFIX).delete()
        CheckCycle.objects.filter(pk__in=CREATED_CYCLES).delete()
        if not had_lease:
            MonitorLease.objects.filter(name="check-cycle").delete()


@contextmanager
def query_counter() -> Iterator[Callable[[], int]]:
    from django.db import connection

    count = 0

    def counting(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        yield lambda: count


def measured_cycle(label: str, client: Any) -> Measure:
    """Run one real cycle, timing its network phase and counting the queries of each phase."""
    from instances import checks

    measure = Measure(label)
    talk = checks._talk_to_gateway
    signature = inspect.signature(talk)
    with query_counter() as queries:

        async def timed_talk(*args: Any, **kwargs: Any) -> Any:
            measure.queries_read = queries()
            call = signature.bind(*args, **kwargs)
            call.apply_defaults()
            client, names, likely_hangs = (call.arguments[k] for k in ("client", "active_names", "likely_hangs"))
            if names:
                plan = client.plan(len(names), likely_hangs)
                measure.plan = f"concorrência {plan.concurrency}, orçamento {plan.budget:.0f}s"
            started = time.monotonic()
            measure.read = started - cycle_started
            try:
                return await talk(*args, **kwargs)
            finally:
                measure.network = time.monotonic() - started
                measure.queries_network = queries() - measure.queries_read

        checks._talk_to_gateway = timed_talk
        try:
            cycle_started = time.monotonic()
            measure.summary = checks.run_cycle(client=client)
            measure.wall = time.monotonic() - cycle_started
        finally:
            checks._talk_to_gateway = talk
        measure.queries_write = queries() - measure.queries_read - measure.queries_network
    if measure.summary.cycle is not None:
        CREATED_CYCLES.append(measure.summary.cycle.pk)
    return measure


def bench_names(count: int) -> list[str]:
    return [f"{BENCH_PREFIX}{i:0{len(str(count))}d}" for i in range(1, count + 1)]


def build_simulator(args: argparse.Namespace, latency: tuple[float, float]) -> Any:
    from instances.simulator import GatewaySimulator

    sim = GatewaySimulator(api_key=API_KEY, latency=latency, hang_share=args.hang_share, seed=args.seed)
    for name in bench_names(args.instances):
        sim.add_instance(name, state="open")
    return sim


def serve_simulator(args: argparse.Namespace, latency: tuple[float, float]) -> int:
    """Child mode: serve the simulated fleet, take ``set_state`` orders as JSON lines on stdin."""
    setup_django()
    sim = build_simulator(args, latency)
    with sim:
        print(json.dumps({"url": sim.url, "hanging": sim.hanging()}), flush=True)
        for line in sys.stdin:
            order = json.loads(line)
            sim.set_state(order["name"], order["state"], code=order.get("code"))
            print("ok", flush=True)
    return 0


class RemoteSimulator:
    """The simulator in its own process, as a real gateway is: it never competes for our GIL."""

    def __init__(self, argv: list[str]) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), *argv, "--serve-simulator"]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
        hello = json.loads(self.process.stdout.readline())
        self.url, self.hanging = hello["url"], set(hello["hanging"])

    def set_state(self, name: str, state: str, code: int | None = None) -> None:
        self.process.stdin.write(json.dumps({"name": name, "state": state, "code": code}) + "\n")
        self.process.stdin.flush()
        self.process.stdout.readline()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def run(args: argparse.Namespace, latency: tuple[float, float], argv: list[str]) -> int:
    from django.db import connection

    from instances.gateway import EvolutionClient

    if args.in_process:
        sim = build_simulator(args, latency)
        sim.start()
        hanging, where = set(sim.hanging()), "no mesmo processo"
    else:
        sim = RemoteSimulator(argv)
        hanging, where = sim.hanging, "em processo próprio"
    names = bench_names(args.instances)
    try:
        client = EvolutionClient(sim.url, API_KEY, timeout=args.timeout, concurrency=args.concurrency or None)
        cap = f"até {args.concurrency}" if args.concurrency else "sem teto"
        print(
            f"check cycle: {args.instances} instâncias, latência {args.latency_ms} ms, {len(hanging)} travadas "
            f"({args.hang_share:.0%}), timeout {args.timeout:g}s, concorrência dimensionada ({cap}), "
            f"banco {connection.vendor}, simulador {where}"
        )
        measures = [measured_cycle("descoberta", client)]
        for i in range(args.cycles):
            label = "estável"
            if i == args.cycles - 1:
                banned = [name for name in names if name not in hanging][:BANS_IN_LAST_CYCLE]
                for name in banned:
                    sim.set_state(name, "close", code=403)
                label = f"{len(banned)} banidas"
            measures.append(measured_cycle(label, client))
    finally:
        if args.in_process:
            sim.stop()
        else:
            sim.close()
    return report(measures, args.timeout, hanging)


def report(measures: list[Measure], timeout: float, hanging: set[str]) -> int:
    target = timeout + TARGET_MARGIN
    print(f"{'ciclo':<14}{'total':>8}{'rede':>8}{'verif.':>8}{'online':>8}{'falhas':>8}{'mudanças':>10}  consultas SQL")
    for m in measures:
        s = m.summary
        if not s.gateway_ok or s.skipped:
            print(f"{m.label:<14} {s}")
            continue
        print(
            f"{m.label:<14}{m.wall:>7.2f}s{m.network:>7.2f}s{s.probed:>8}{s.online:>8}{s.failures:>8}"
            f"{len(s.changes):>10}  leitura {m.queries_read}, rede {m.queries_network}, escrita {m.queries_write}"
        )
    first = measures[0]
    if first.summary.gateway_ok and not first.summary.skipped:
        print(
            f"descoberta ({first.summary.discovered} novas): escrita {first.wall - first.read - first.network:.2f}s "
            f"em {first.queries_write} consultas (leitura {first.read:.2f}s, rede {first.network:.2f}s)"
        )
    steady = measures[1:]
    for m in steady:
        if m.summary.gateway_ok and not m.summary.skipped:
            failed = set(m.summary.failed)
            why = Counter(m.summary.failed[name] for name in failed - hanging).most_common(2)
            print(
                f"{m.label}: {m.plan}; {len(failed)} sondagens falharam, {len(hanging)} instâncias travadas, "
                f"{len(failed - hanging)} falhas falsas{f' {why}' if why else ''}; "
                f"fora da rede (leitura e escrita) {m.wall - m.network:.2f}s"
            )
    worst = max(m.wall for m in steady)
    in_time = all(m.summary.gateway_ok and m.wall <= target for m in steady)
    exact = all(set(m.summary.failed) == hanging for m in steady if m.summary.gateway_ok)
    ok = in_time and exact
    print(
        f"alvo: ciclo <= timeout + {TARGET_MARGIN:g}s = {target:g}s e falhas = travadas; "
        f"pior ciclo estável {worst:.2f}s, {'falhas = travadas' if exact else 'falhas falsas'} "
        f"-> {'OK' if ok else 'FALHOU'}"
    )
    quiet = [m for m in steady if not m.summary.changes]
    if quiet:
        print(
            f"escrita em lote: {quiet[0].queries_write} consultas num ciclo sem mudanças "
            f"({quiet[0].summary.probed} verificadas, {quiet[0].summary.failures} falhas)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
