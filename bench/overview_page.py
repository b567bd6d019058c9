"""The fleet overview page (GET / and its partial) with a large fleet: SQL queries, median render time, bytes.

Targets: with 1,000 instances and 5,000 alerts in history (a few dozen open), at most
10 queries and a median under 150 ms per page, served in-process on PostgreSQL; the refresh
of a page that shows the previous version, after 10 rows changed, under 30 KiB.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/overview_page.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from _setup import bench_database


def seed_alerts(total: int, open_count: int) -> None:
    from django.utils import timezone

    from alerts.choices import AlertState, Rule, Severity
    from alerts.models import Alert
    from instances.models import CheckCycle, Instance

    now = timezone.now()
    ids = list(Instance.objects.values_list("pk", flat=True))
    rules = [Rule.INSTANCE_OFFLINE, Rule.CAPACITY_HIGH, Rule.CONSECUTIVE_FAILURES]
    alerts = []
    for n in range(total):
        instance_id = ids[n % len(ids)]
        is_open = n < open_count
        alerts.append(
            Alert(
                instance_id=instance_id,
                rule=rules[n % len(rules)],
                severity=Severity.ERROR,
                # Open alerts need distinct keys (one open per key); resolved ones may repeat.
                key=f"{rules[n % len(rules)]}:{instance_id}" if is_open else f"old:{n}",
                title=f"Alerta {n}",
                message="bench",
                state=AlertState.FIRING if is_open else AlertState.RESOLVED,
                first_seen_at=now - timedelta(minutes=n),
                resolved_at=None if is_open else now - timedelta(minutes=n - 1),
            )
        )
    Alert.objects.bulk_create(alerts, batch_size=1000)
    CheckCycle.objects.create(started_at=now - timedelta(seconds=30), finished_at=now - timedelta(seconds=25))


def measure(client: object, url: str, requests: int) -> tuple[int, list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm up
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:200]
    # Counted now: the next request clears the connection's query log the slice reads from.
    count = len(queries)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    return count, timings, len(response.content)


def change_rows(count: int) -> list[str]:
    """Change ``count`` instances as the fleet does: a few messages sent, one of them dropped."""
    from instances.models import Instance, Status

    changed = list(Instance.objects.order_by("name")[:: max(1, Instance.objects.count() // count)][:count])
    for instance in changed:
        instance.record_sent(count=2)
    changed[0].record_status(Status.DISCONNECTED, "conexão encerrada (428)")
    return [i.name for i in changed]


def measure_refresh(client: object, changed: int, requests: int) -> None:
    """Print what the refresh of a page one version behind costs, after ``changed`` rows changed."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    page = client.get("/").content.decode()
    version = re.search(r'data-version="([0-9a-f]+)"', page)
    if version is None:  # the older code: every refresh is the whole partial
        print("refresh: this code sends the whole partial every time (no data-version)")
        return
    names = change_rows(changed)
    url = f"/frota/parcial?versao={version[1]}"
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    body = response.content
    rows = body.count(b"<tr data-instance=")
    assert b'data-mode="diff"' in body and rows >= len(names), f"{rows} rows in the diff for {len(names)} changes"
    count = len(queries)
    current = re.search(rb'data-version="([0-9a-f]+)"', body)
    assert current is not None
    at_once = client.get(f"/frota/parcial?versao={current[1].decode()}").content
    began = time.perf_counter()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url)  # the same old version each time: a diff of the same rows
        timings.append((time.perf_counter() - started) * 1000)
    # Nothing written since, but the clock moved: forecasts ("limite diário às 16:40") move with it
    # and are sent as patches (a name and the words), not rows.
    later = client.get(f"/frota/parcial?versao={current[1].decode()}").content
    print(
        f"GET /frota/parcial?versao=… after {len(names)} rows changed: {len(body) / 1024:.1f} KiB "
        f"(target < 30 KiB), {rows} rows, {body.count(b'<li data-instance=')} forecast patches, "
        f"{count} SQL queries, median {statistics.median(timings):.1f} ms, "
        f"p95 {statistics.quantiles(timings, n=20)[18]:.1f} ms"
    )
    print(
        f"  then with nothing written: {len(at_once) / 1024:.1f} KiB at once; "
        f"{len(later) / 1024:.1f} KiB ({later.count(b'<tr data-instance=')} rows, "
        f"{later.count(b'<li data-instance=')} forecast patches) {time.perf_counter() - began:.0f} s later"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--history-days", type=int, default=7, help="usage history behind each instance")
    parser.add_argument("--alerts", type=int, default=5000, help="alerts in history")
    parser.add_argument("--open-alerts", type=int, default=40)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--changed", type=int, default=10, help="rows changed before the refresh is measured")
    args = parser.parse_args()

    with bench_database() as where:
        from dashboard import seed
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client

        seed(args.instances, args.history_days)
        seed_alerts(args.alerts, args.open_alerts)
        client = Client()
        client.force_login(get_user_model().objects.create_user("bench"))

        print(f"database: {where}")
        print(
            f"fleet: {args.instances} instances, {args.history_days} days of hourly usage each, "
            f"{args.alerts} alerts ({args.open_alerts} open)"
        )
        shown = min(args.instances, getattr(settings, "OVERVIEW_PER_PAGE", args.instances))
        for url in ("/", "/frota/parcial"):
            queries, timings, size = measure(client, url, args.requests)
            rows = client.get(url).content.count(b"data-instance=")
            assert rows == shown, f"{url} shows {rows} rows"
            print(
                f"GET {url}: {queries} SQL queries (target <= 10), median {statistics.median(timings):.1f} ms, "
                f"p95 {statistics.quantiles(timings, n=20)[18]:.1f} ms over {args.requests} requests "
                f"(target: median < 150 ms), {size / 1024:.0f} KiB"
            )
        measure_refresh(client, args.changed, args.requests)


if __name__ == "__main__":
    main()
