"""instances.fleet_rows: the overview's rows read by one statement on PostgreSQL (each instance's
newest usage from ``UsageNow``) are the rows ``Instance.objects.for_dashboard()`` reads, value for
value and in the same order; PostgreSQL's moments come as its text of them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from instances.fleet_rows import VALUE_FIELDS, dashboard_values, orm_values
from instances.models import Status
from tests.instances.support import as_read

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 25, 14, 30, 12, 345678, tzinfo=SP)

USAGE = ("first_hour_today", "msgs_hour", "msgs_day")


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_both_ways_read_the_same_rows(make_instance) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the statement is PostgreSQL's; elsewhere both are the ORM's")
    busy = make_instance("zap-busy", last_message_at=NOW - timedelta(seconds=3))
    busy.record_sent(count=7, at=NOW - timedelta(days=1))  # yesterday: not today's
    busy.record_sent(count=5, at=NOW - timedelta(hours=3))
    busy.record_sent(count=4, at=NOW - timedelta(minutes=2))
    earlier = make_instance("Zap-earlier", status=Status.DISCONNECTED, down_since=NOW - timedelta(hours=2))
    earlier.record_sent(count=9, at=NOW - timedelta(hours=1))
    make_instance("zap-quiet", status=Status.BANNED, last_read_at=None, status_reason="banida pelo gateway")
    make_instance("zap-gone", is_active=False).record_sent(count=3)

    rows = as_read(dashboard_values(NOW))

    assert rows == orm_values(NOW)
    usage = {row[1]: tuple(row[VALUE_FIELDS.index(name)] for name in USAGE) for row in rows}
    assert set(usage) == {"zap-busy", "Zap-earlier", "zap-quiet"}
    assert usage["zap-busy"] == (datetime(2026, 11, 25, 11, tzinfo=SP), 4, 9)
    assert usage["Zap-earlier"] == (datetime(2026, 11, 25, 13, tzinfo=SP), 0, 9)
    assert usage["zap-quiet"] == (None, 0, 0)
