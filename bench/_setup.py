"""Shared set-up for the benchmarks: Django on a throw-away copy of DATABASE_URL's database.

Each benchmark runs against a fresh test database (``test_<name>``) that Django creates,
migrates and drops, so it never touches real data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "julia_monitor.settings")


@contextmanager
def bench_database() -> Iterator[str]:
    """Set Django up on a fresh, migrated test database; yield its description."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield f"{connection.vendor} ({connection.settings_dict['NAME']})"
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def add_hourly_usage(instance_ids: Iterable[int], history_days: int) -> None:
    """Give each instance ``history_days`` of hourly usage up to this hour (0–19 messages an hour)."""
    from django.utils import timezone

    from instances.models import UsageBucket, hour_start

    this_hour = hour_start(timezone.now())
    hours = [this_hour - timedelta(hours=h) for h in range(history_days * 24)]
    batch: list[UsageBucket] = []
    for instance_id in instance_ids:
        batch.extend(
            UsageBucket(instance_id=instance_id, hour=h, count=(instance_id + i) % 20) for i, h in enumerate(hours)
        )
        if len(batch) > 20_000:
            UsageBucket.objects.bulk_create(batch)
            batch = []
    UsageBucket.objects.bulk_create(batch)


def check_existing_database(setup: Callable[[], None], refuse_reason: Callable[[], str]) -> int | None:
    """For benchmarks that run on DATABASE_URL itself: set Django up and check the database.

    Return an exit code to stop with (after printing why), or None when the database is
    reachable and ``refuse_reason()`` finds nothing real in it.
    """
    if not os.environ.get("DATABASE_URL"):
        print("erro: defina DATABASE_URL (um banco sem dados reais, ex. postgres://postgres@127.0.0.1:5432/bench)")
        return 2
    setup()
    from django.db import DatabaseError

    try:
        problem = refuse_reason()
    except DatabaseError as exc:
        print(f"erro: banco inacessível: {exc}".strip())
        return 2
    if problem:
        print(f"erro: {problem}")
        return 2
    return None
