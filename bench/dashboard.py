"""GET /dashboard/instances with a large fleet: SQL queries per request and median latency.

Target: with 1,000 instances, at most 5 queries and a median under 50 ms served
in-process on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/dashboard.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from _setup import bench_database


def seed(instances: int, history_days: int) -> None:
    from django.utils import timezone

    from instances.fleet import fleet_overview  # noqa: F401 - import cost outside the timing
    from instances.models import Instance, Status, UsageBucket, hour_start

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
        for n in range(instances)
    )
    now = hour_start(timezone.now())
    hours = [now - timedelta(hours=h) for h in range(history_days * 24)]
    batch: list[UsageBucket] = []
    for instance_id in Instance.objects.values_list("pk", flat=True):
        batch.extend(
            UsageBucket(instance_id=instance_id, hour=h, count=(instance_id + i) % 20) for i, h in enumerate(hours)
        )
        if len(batch) > 20_000:
            UsageBucket.objects.bulk_create(batch)
            batch = []
    UsageBucket.objects.bulk_create(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--history-days", type=int, default=7, help="usage history behind each instance")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    with bench_database() as where:
        from django.db import connection, reset_queries
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from instances.models import ApiKey

        seed(args.instances, args.history_days)
        _key, secret = ApiKey.issue("bench")
        client = Client(HTTP_X_API_KEY=secret)
        client.get("/dashboard/instances")  # warm up

        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/dashboard/instances")
        assert response.status_code == 200, response.content[:200]
        assert len(response.json()["instancias"]) == args.instances

        timings = []
        for _ in range(args.requests):
            started = time.perf_counter()
            client.get("/dashboard/instances")
            timings.append((time.perf_counter() - started) * 1000)

        print(f"database: {where}")
        print(f"fleet: {args.instances} instances, {args.history_days} days of hourly usage each")
        print(f"SQL queries per request: {len(queries)} (target <= 5)")
        print(
            f"GET /dashboard/instances median {statistics.median(timings):.1f} ms, "
            f"p95 {statistics.quantiles(timings, n=20)[18]:.1f} ms over {args.requests} requests"
            " (target: median < 50 ms)"
        )


if __name__ == "__main__":
    main()
