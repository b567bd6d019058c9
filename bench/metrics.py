"""GET /metrics with a large fleet: SQL queries per scrape, median and p95 time.

Target: with 1,000 instances, at most 5 queries and a median under 100 ms served in-process on
PostgreSQL (with Redis for the circuits and the worker's heartbeat, as in production). The fleet
grows in place from one size to the next: usage history, open alerts, an outbox with years of
sent notifications, a maintenance window, a cycle and a queued task, as a real portal has.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/metrics.py --sizes 1000,10000
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

TOKEN = "bench-token-with-at-least-32-characters"


def seed(first: int, last: int, history_days: int) -> None:
    """Add instances ``first``…``last - 1`` with their usage, alerts and notifications."""
    from django.utils import timezone

    from alerts.choices import Channel, NotificationKind, NotificationState, Rule, Severity
    from alerts.models import Alert, Notification
    from instances.models import Instance, Status

    now = timezone.now()
    statuses = [Status.CONNECTED] * 8 + [Status.DISCONNECTED, Status.BANNED, Status.CONNECTING]
    created = Instance.objects.bulk_create(
        Instance(
            name=f"bench-{n:05}",
            phone_number=f"55119{n:08}",
            status=statuses[n % len(statuses)],
            capacity_per_hour=30,
            capacity_per_day=200,
            last_message_at=now - timedelta(minutes=n % 90),
            # Read just now, but one in twenty long ago (shown unknown) and one in fifty never.
            last_read_at=None if n % 50 == 0 else now - timedelta(minutes=30 if n % 20 == 0 else 0),
        )
        for n in range(first, last)
    )
    add_hourly_usage((instance.pk for instance in created), history_days)

    # One in ten has an alert: open for the banned and the disconnected, resolved for the others
    # (history); each told to Slack and the log, most long delivered, a few still pending or failed.
    alerts = Alert.objects.bulk_create(
        Alert(
            rule=Rule.INSTANCE_BANNED if i.status == Status.BANNED else Rule.INSTANCE_OFFLINE,
            severity=Severity.CRITICAL if i.status == Status.BANNED else Severity.ERROR,
            instance=i,
            key=f"bench:{i.pk}",
            title=f"Instância {i.name}",
            message="bench",
            state="firing" if i.status in (Status.BANNED, Status.DISCONNECTED) else "resolved",
        )
        for i in created[::10]
    )
    states = [NotificationState.SENT] * 18 + [NotificationState.PENDING, NotificationState.FAILED]
    Notification.objects.bulk_create(
        Notification(
            alert=alert,
            channel=channel,
            kind=NotificationKind.FIRING,
            batch=f"b{alert.pk}",
            state=states[(alert.pk + n) % len(states)],
            created_at=now - timedelta(days=(alert.pk + n) % 300),
        )
        for alert in alerts
        for n, channel in enumerate((Channel.SLACK, Channel.LOG, Channel.EMAIL) * 4)
    )


def surroundings() -> None:
    """A finished cycle, a queued task, a failed one, a maintenance window over 50 instances, a heartbeat."""
    import uuid

    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import Task
    from django_q.signing import SignedPackage
    from django_q.status import Stat, Status
    from django_q.tasks import async_task

    from alerts.maintenance import MaintenanceWindow
    from instances.models import CheckCycle, Instance

    now = timezone.now()
    CheckCycle.objects.create(started_at=now - timedelta(seconds=20), finished_at=now - timedelta(seconds=8))
    async_task("math.floor", 1.5)
    Task.objects.create(id=uuid.uuid4().hex, name="x", func="math.sqrt", started=now, stopped=now, success=False)
    MaintenanceWindow.schedule(ends_at=now + timedelta(hours=1), reason="bench", instances=Instance.objects.all()[:50])
    stat = Status(pid=1, cluster_id=uuid.uuid4())
    stat.status = "Idle"
    get_broker().set_stat(Stat.get_key(stat.cluster_id), SignedPackage.dumps(stat, True), 600)


# What Prometheus sends by default (it prefers OpenMetrics; /metrics answers its text format).
PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"


def measure(client: Client, path: str, headers: dict[str, str], times: int) -> tuple[int, list[float], int]:
    """Return the queries of one request, ``times`` timings in ms and the answer's size in bytes."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    client.get(path, **headers)  # warm up (and an API key's once-a-minute "last used")
    reset_queries()  # as each request does on its start: the capture counts from here
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **headers)
    assert response.status_code == 200, response.content[:200]
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        client.get(path, **headers)
        timings.append((time.perf_counter() - started) * 1000)
    return len(queries), timings, len(response.content)


def figures(timings: list[float]) -> str:
    return f"median {statistics.median(timings):.1f} ms, p95 {statistics.quantiles(timings, n=20)[18]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="fleet sizes, growing (comma-separated)")
    parser.add_argument("--history-days", type=int, default=7, help="usage history behind each instance")
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with bench_database() as where:
        from django.conf import settings
        from django.test import Client

        from instances.models import ApiKey

        settings.METRICS_TOKEN = TOKEN
        _key, secret = ApiKey.issue("bench")
        client = Client()
        print(f"database: {where}; cache: {'Redis' if settings.REDIS_URL else 'local memory + database table'}")
        done = 0
        for size in sizes:
            seed(done, size, args.history_days)
            if done == 0:
                surroundings()
            done = size
            scraper = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}", "HTTP_ACCEPT": PROMETHEUS_ACCEPT}
            by_token, timings, length = measure(client, "/metrics", scraper, args.scrapes)
            by_key, _timings, _length = measure(client, "/metrics", {"HTTP_AUTHORIZATION": f"Bearer {secret}"}, 3)
            print(
                f"{size:>6} instances ({args.history_days} days of hourly usage each): GET /metrics "
                f"{figures(timings)} over {args.scrapes} scrapes, {length // 1024} KiB of text; "
                f"{by_token} queries with the token, {by_key} with an API key (target <= 5)"
            )
            # The same machine's pace, on a page whose own benchmark (bench/dashboard.py) is known.
            _queries, reference, _length = measure(client, "/dashboard/instances", {"HTTP_X_API_KEY": secret}, 20)
            print(f"{size:>6} instances: for reference, GET /dashboard/instances {figures(reference)} (same run)")


if __name__ == "__main__":
    main()
