"""The newest hour and day of each instance's usage (``UsageNow``), kept by a PostgreSQL trigger.

The overview reads this table instead of today's buckets. Whatever happens to the buckets (messages
counted in any order, hours and days apart, buckets corrected or deleted, instances deleted) and
whenever the overview looks (now, later, or before the newest message: a clock ahead of ours), the
rows it reads must be the rows ``Instance.objects.for_dashboard()`` reads from the buckets
themselves, and the table must hold what recounting every instance from scratch gives (hypothesis).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instances.fleet_rows import dashboard_values, orm_values
from instances.models import Instance, UsageBucket, UsageNow, hour_start
from tests.instances.support import as_read

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 25, 14, 30, 12, tzinfo=SP)
# When the overview looks: now, later the same day, the next days, and before the newest messages.
LOOKS = [timedelta(0), timedelta(minutes=40), timedelta(days=1), timedelta(days=2), -timedelta(hours=2)]

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")

instances = st.integers(min_value=0, max_value=2)
# Up to three days back, so days and hours are crossed in any order.
ages = st.integers(min_value=0, max_value=3 * 24 * 60)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("sent"), instances, ages, st.integers(min_value=1, max_value=5)),
        st.tuples(st.just("corrected"), instances, ages, st.integers(min_value=0, max_value=9)),
        st.tuples(st.just("deleted"), instances, ages, st.just(0)),
        st.tuples(st.just("instance deleted"), instances, st.just(0), st.just(0)),
    ),
    max_size=30,
)


def table() -> list[tuple[Any, ...]]:
    return list(
        UsageNow.objects.order_by("instance_id").values_list(
            "instance_id", "hour", "hour_count", "day", "day_count", "first_hour"
        )
    )


def apply(operation: tuple[str, int, int, int], fleet: list[Instance]) -> None:
    what, which, age, count = operation
    instance = fleet[which]
    at = NOW - timedelta(minutes=age)
    if not Instance.objects.filter(pk=instance.pk).exists():
        return
    if what == "sent":
        instance.record_sent(count=count, at=at)
    elif what == "corrected":
        UsageBucket.objects.filter(instance=instance, hour=hour_start(at)).update(count=count)
    elif what == "deleted":
        UsageBucket.objects.filter(instance=instance, hour=hour_start(at)).delete()
    else:
        instance.delete()


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_the_overview_reads_what_the_buckets_say(ops: list[tuple[str, int, int, int]]) -> None:
    with transaction.atomic():
        fleet = [
            Instance.objects.create(name=f"zap-{n}", capacity_per_hour=20, capacity_per_day=100, last_read_at=NOW)
            for n in range(3)
        ]
        for operation in ops:
            apply(operation, fleet)

        for look in LOOKS:
            with time_machine.travel(NOW + look, tick=False):
                at = NOW + look
                assert as_read(dashboard_values(at)) == orm_values(at), f"at {at}"

        kept = table()
        with connection.cursor() as cursor:
            cursor.execute("SELECT instances_usage_now_recount(id) FROM instances_instance")
        assert table() == kept
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_usage_counted_before_the_table_existed_is_filled_in(make_instance) -> None:
    """The migration fills the table from the buckets already there (the same recount)."""
    busy = make_instance("zap-busy")
    busy.record_sent(count=4, at=NOW - timedelta(hours=1))
    busy.record_sent(count=3, at=NOW)
    UsageNow.objects.all().delete()  # as before the migration

    with connection.cursor() as cursor:
        cursor.execute("SELECT instances_usage_now_recount(id) FROM instances_instance")

    row = UsageNow.objects.get(instance=busy)
    assert (row.hour, row.hour_count, row.day_count, row.first_hour) == (
        hour_start(NOW),
        3,
        7,
        hour_start(NOW - timedelta(hours=1)),
    )
