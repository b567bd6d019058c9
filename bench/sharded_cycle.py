"""Benchmark the sharded minute: N real qclusters on the Redis broker share one check of a big fleet.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> REDIS_URL=redis://127.0.0.1:6379/<n> \\
        .venv/bin/python bench/sharded_cycle.py [--instances 10000] [--shards 4] [--clusters 4] \\
        [--latency-ms 50-150] [--hang-share 0.05] [--timeout 5] [--minutes 3]

Target: a steady minute of 10,000 instances (5 % hanging, 50–150 ms latency, 5 s timeout) with
CHECK_SHARDS=4 and four ``manage.py qcluster`` processes within 7 s, from the first shard's start
to the last shard's finish (read from the shards' CheckCycle rows). ``--shards 1 --clusters 1``
measures the single whole-fleet cycle the same way, for comparison.

On a fresh test database (``_setup.bench_database``; PostgreSQL only, as the workers share it)
the fleet is registered connected, the gateway simulator serves it in its own process, and the
qclusters start production-like (``DEBUG=false``) on REDIS_URL's Redis as their broker. The
schedules are pushed a day ahead: each minute is queued by running the every-minute task in a
process of its own, as the schedule would, once the previous minute's round and its alert
evaluation are done. One warm-up minute goes first (it learns which instances hang, as a
running monitor has), then ``--minutes`` steady ones are measured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from _alerting import Children, child_env, exit_on_sigterm, no_proxy_for_loopback, require_postgresql, seed_connected
from _setup import bench_database
from check_cycle import RemoteSimulator, bench_names

TARGET_SECONDS = 7.0
API_KEY = "bench-cycle-key"  # check_cycle.py's simulator
WEBHOOK_SECRET = "bench-shards-webhook-secret-0123456789"  # 32+: DEBUG is off
# A minute not done by then never will be: the worker kills a task after 50 s.
ROUND_TIMEOUT = 90.0
# What the scheduler does each minute: queue the every-minute task for the workers.
QUEUE_THE_MINUTE = "from django_q.tasks import async_task; async_task('instances.tasks.check_instances')"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000, help="simulated instances (default 10000)")
    parser.add_argument("--shards", type=int, default=4, help="CHECK_SHARDS (default 4)")
    parser.add_argument("--clusters", type=int, default=None, help="qcluster processes (default: --shards)")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of each qcluster (default 2)")
    parser.add_argument("--latency-ms", default="50-150", help="answer latency range in ms (default 50-150)")
    parser.add_argument("--hang-share", type=float, default=0.05, help="share of hanging instances (default 0.05)")
    parser.add_argument("--timeout", type=float, default=5.0, help="probe timeout in seconds (default 5)")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="EVOLUTION_CONCURRENCY of each worker (default: the settings')"
    )
    parser.add_argument("--minutes", type=int, default=3, help="steady minutes measured after a warm-up (default 3)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    args.clusters = args.clusters or args.shards
    if args.instances < 1 or args.shards < 1 or args.clusters < 1 or args.minutes < 1 or args.workers < 1:
        parser.error("--instances, --shards, --clusters, --workers e --minutes devem ser >= 1")
    if not os.environ.get("REDIS_URL"):
        print("erro: defina REDIS_URL (o broker das tarefas, ex. redis://127.0.0.1:6379/7)")
        return 2
    if not require_postgresql():
        return 2
    exit_on_sigterm()
    no_proxy_for_loopback()
    simulator_args = [
        f"--instances={args.instances}",
        f"--latency-ms={args.latency_ms}",
        f"--hang-share={args.hang_share}",
        f"--timeout={args.timeout}",
        f"--seed={args.seed}",
    ]
    with bench_database() as where:
        return run(args, simulator_args, where)


def run(args: argparse.Namespace, simulator_args: list[str], where: str) -> int:
    import redis
    from django.conf import settings
    from django.utils import timezone
    from django_q.models import Schedule

    from instances.models import CheckCycle, CheckRound

    settings.DEBUG = False
    names = bench_names(args.instances)
    seed_connected(names)
    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
    queue = redis.Redis.from_url(os.environ["REDIS_URL"])
    queue.delete("django_q:julia-monitor:q")
    sim = RemoteSimulator(simulator_args)
    logs = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    children = Children(logs)
    try:
        env = child_env(
            slack_url="",
            gateway_url=sim.url,
            api_key=API_KEY,
            webhook_secret=WEBHOOK_SECRET,
            debounce=60,
        )
        env.update(
            CHECK_SHARDS=str(args.shards),
            Q_WORKERS=str(args.workers),
            EVOLUTION_TIMEOUT=f"{args.timeout:g}",
            LOG_LEVEL="WARNING",
        )
        if args.concurrency:
            env["EVOLUTION_CONCURRENCY"] = str(args.concurrency)
        print(
            f"rodada: {args.instances} instâncias, {args.shards} fatias, {args.clusters} qclusters × "
            f"{args.workers} workers (broker Redis), latência {args.latency_ms} ms, {len(sim.hanging)} travadas, "
            f"timeout {args.timeout:g}s, concorrência {env.get('EVOLUTION_CONCURRENCY', 'padrão')} por worker, "
            f"banco {where}; registros em {logs}"
        )
        for n in range(args.clusters):
            children.start(f"qcluster-{n + 1}", [sys.executable, "manage.py", "qcluster"], env)
        walls = []
        for minute in range(args.minutes + 1):
            label = "aquecimento " if minute == 0 else f"minuto {minute:<3} "
            try:
                cycles = run_minute(env, children, logs, minute)
            except TimeoutError as exc:
                # A killed shard holds its lease for a while and its round closes only on the next
                # minute's timeout: the minutes after it would measure that, not the steady state.
                print(label + str(exc))
                walls.append(float("inf"))
                break
            wall, line = describe(cycles)
            print(label + line)
            if minute:
                walls.append(wall)
        CheckCycle.objects.all().delete()
        CheckRound.objects.all().delete()
    finally:
        children.stop()
        sim.close()
        queue.delete("django_q:julia-monitor:q")
    worst = max(walls)
    ok = worst <= TARGET_SECONDS
    if worst == float("inf"):
        print(f"alvo: rodada estável <= {TARGET_SECONDS:g}s; algum minuto não terminou -> FALHOU")
        return 1
    print(f"alvo: rodada estável <= {TARGET_SECONDS:g}s; pior {worst:.2f}s -> {'OK' if ok else 'FALHOU'}")
    return 0 if ok else 1


def run_minute(env: dict[str, str], children: Children, logs: Path, minute: int) -> list[Any]:
    """Queue the minute as the schedule would; return its cycles once they are in and its evaluation has ended."""
    from alerts.models import EvaluationQueue
    from instances.models import CheckCycle, CheckRound

    rounds_before, cycles_before = CheckRound.objects.count(), CheckCycle.objects.count()
    with (logs / f"minute-{minute}.log").open("wb") as out:
        subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "shell", "-c", QUEUE_THE_MINUTE],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )
    deadline = time.monotonic() + ROUND_TIMEOUT
    while True:
        children.check_alive()
        evaluating = EvaluationQueue.objects.filter(queued_until__isnull=False).exists()
        if CheckRound.objects.count() > rounds_before:
            current = CheckRound.objects.order_by("started_at").last()
            if current is not None and current.closed_at is not None and not evaluating:
                return list(CheckCycle.objects.filter(round=current).order_by("shard"))
        elif CheckCycle.objects.count() > cycles_before and not evaluating:  # one whole-fleet cycle
            return list(CheckCycle.objects.order_by("-started_at")[:1])
        if time.monotonic() > deadline:
            raise TimeoutError(f"não terminou em {ROUND_TIMEOUT:g}s (o worker mata uma tarefa após 50 s); veja {logs}")
        time.sleep(0.2)


def describe(cycles: list[Any]) -> tuple[float, str]:
    first = min(c.started_at for c in cycles)
    last = max(c.finished_at for c in cycles)
    wall = (last - first).total_seconds()
    per_shard = ", ".join(f"{c.shard}: {c.duration.total_seconds():.2f}s/{c.probed}" for c in cycles)
    failures = sum(c.failures for c in cycles)
    late = max((c.started_at - first).total_seconds() for c in cycles)
    gateway = Counter("ok" if c.gateway_ok else c.gateway_error for c in cycles)
    return wall, (
        f"{wall:6.2f}s do início da primeira fatia ao fim da última (última começou +{late:.2f}s); "
        f"fatias (s/verificadas) {per_shard}; {failures} falhas; gateway {dict(gateway)}"
    )


if __name__ == "__main__":
    sys.exit(main())
