"""GET /dashboard/instances with a large fleet: SQL queries per request, median and p95 latency.

Targets, served in-process on PostgreSQL: at most 5 queries whatever the fleet's size; a median
under 50 ms with 1,000 instances and under 80 ms with 10,000. Several sizes run one after the
other on the same database (the fleet grows between them).

Two series per size, each request after a change made outside the timing: between two check
cycles, 1 % of the instances sent a message since the last request (the rows of the others, built
by the last request, are reused); right after a cycle, every instance has a new reading (every
row changed).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/dashboard.py
    DATABASE_URL=… .venv/bin/python bench/dashboard.py --instances 1000 10000
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from _setup import add_hourly_usage, bench_database

if TYPE_CHECKING:
    from django.test import Client


TARGET_MS = {1000: 50, 10000: 80}


def seed(instances: int, history_days: int, first: int = 0) -> None:
    """Add instances numbered ``first`` to ``instances - 1``, each with ``history_days`` of usage."""
    from django.db import connection
    from django.utils import timezone

    from instances.fleet import fleet_overview  # noqa: F401 - import cost outside the timing
    from instances.models import Instance, Status

    statuses = [Status.CONNECTED] * 8 + [Status.DISCONNECTED, Status.BANNED, Status.CONNECTING]
    Instance.objects.bulk_create(
        Instance(
            name=f"bench-{n:04}",
            phone_number=f"55119{n:08}",
            status=statuses[n % len(statuses)],
            capacity_per_hour=30,
            capacity_per_day=200,
            last_message_at=timezone.now() - timedelta(minutes=n % 90),
            # Read by the gateway just now: a stale reading would show every status as unknown.
            last_read_at=timezone.now(),
        )
        for n in range(first, instances)
    )
    add_hourly_usage(Instance.objects.filter(name__gte=f"bench-{first:04}").values_list("pk", flat=True), history_days)
    if connection.vendor == "postgresql":
        # What autovacuum does to a real database: planner statistics and the visibility map.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE instances_instance, instances_usagebucket")


def measure(client: Client, instances: int, requests: int, history_days: int) -> None:
    """Print the queries of one request and the median and p95 of ``requests`` more."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from instances.models import Instance

    # A cycle just read every instance: seeding a large fleet takes longer than a reading stays fresh.
    Instance.objects.update(last_read_at=timezone.now())
    get = client.get
    get("/dashboard/instances")  # warm up
    reset_queries()  # a full log (DEBUG keeps the last 9,000) would hide the new ones
    with CaptureQueriesContext(connection) as queries:
        response = get("/dashboard/instances")
    assert response.status_code == 200, response.content[:200]
    assert len(response.json()["instancias"]) == instances

    target = TARGET_MS.get(instances)
    print(f"fleet: {instances} instances, {history_days} days of hourly usage each")
    print(f"  SQL queries per request: {len(queries)} (target <= 5)")
    for series, every_row_changed in (("between cycles, 1 % changed", False), ("every row changed", True)):
        timings, cpu = time_requests(client, requests, every_row_changed)
        print(
            f"  {series}: GET /dashboard/instances median {statistics.median(timings):.1f} ms, "
            f"p95 {statistics.quantiles(timings, n=20)[18]:.1f} ms over {requests} requests"
            + (f" (target: median < {target} ms)" if target else "")
        )
        # On a busy machine the wall clock also counts waiting for a core; this does not.
        print(f"    CPU of the portal's process per request: median {statistics.median(cpu):.1f} ms")


def time_requests(client: Client, requests: int, every_row_changed: bool) -> tuple[list[float], list[float]]:
    """Return the wall and CPU milliseconds of ``requests`` requests, each after a change."""
    import random

    from django.db.models import F
    from django.utils import timezone

    from instances.models import Instance, UsageBucket, hour_start

    pks = list(Instance.objects.values_list("pk", flat=True))
    timings, cpu = [], []
    for _ in range(requests):
        if every_row_changed:
            Instance.objects.update(last_read_at=timezone.now())  # what a check cycle does
        else:  # a message each from 1 % of the fleet, counted as record_sent counts it
            senders = random.sample(pks, max(1, len(pks) // 100))
            this_hour = UsageBucket.objects.filter(instance_id__in=senders, hour=hour_start(timezone.now()))
            this_hour.update(count=F("count") + 1)
        started, started_cpu = time.perf_counter(), time.process_time()
        client.get("/dashboard/instances")
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return timings, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[1000], help="fleet sizes, smallest first")
    parser.add_argument("--history-days", type=int, default=7, help="usage history behind each instance")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    sizes = sorted(args.instances)

    with bench_database() as where:
        from django.test import Client

        from instances.models import ApiKey

        _key, secret = ApiKey.issue("bench")
        client = Client(HTTP_X_API_KEY=secret)
        print(f"database: {where}")
        seeded = 0
        for size in sizes:
            seed(size, args.history_days, first=seeded)
            seeded = size
            measure(client, size, args.requests, args.history_days)


if __name__ == "__main__":
    main()
