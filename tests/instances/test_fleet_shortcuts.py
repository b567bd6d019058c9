"""The overview's shortcuts for 10,000 rows say what the general functions say: the day's
projection, freshness at its boundary, and moments written as Django's JSON encoder wrote them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.serializers.json import DjangoJSONEncoder
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from instances.fleet import RowReader
from instances.fleet_rows import VALUE_FIELDS
from instances.forecast import Periods, day_projection, forecast
from instances.models import Status, is_fresh, shown_status
from julia_monitor.lib.json_body import moment

SP = ZoneInfo("America/Sao_Paulo")
moments = st.datetimes(
    min_value=datetime(2019, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.sampled_from([UTC, SP])
)


@given(
    now=moments,
    used=st.integers(0, 3000),
    capacity=st.integers(1, 2000),
    first_hour_back=st.none() | st.integers(0, 23),
)
def test_the_day_projection_is_the_forecasts(now: datetime, used: int, capacity: int, first_hour_back) -> None:
    periods = Periods.of(now)
    first = (
        None
        if first_hour_back is None
        else datetime.fromtimestamp(periods.hour_start, UTC) - timedelta(hours=first_hour_back)
    )

    whole = forecast(0, 20, used, capacity, first, periods).day_projection_within(capacity)

    assert day_projection(used, capacity, first, periods) == whole


@given(at=moments)
def test_a_moment_reads_as_djangos_encoder_wrote_it(at: datetime) -> None:
    assert moment(at) == json.loads(json.dumps(timezone.localtime(at), cls=DjangoJSONEncoder))


def test_no_moment_is_null() -> None:
    assert moment(None) is None


STALE = timedelta(seconds=180)
ages = st.timedeltas(min_value=timedelta(0), max_value=timedelta(seconds=400)) | st.sampled_from(
    [STALE - timedelta(microseconds=1), STALE, STALE + timedelta(microseconds=1)]
)


@given(age=ages, stored=st.sampled_from(Status.values))
def test_a_row_is_fresh_and_shown_as_is_fresh_and_shown_status_say(age: timedelta, stored: str) -> None:
    now = datetime(2026, 11, 25, 14, 30, 0, 500, tzinfo=SP)
    values = dict.fromkeys(VALUE_FIELDS, 0) | {"status": stored, "status_reason": "", "last_read_at": now - age}
    values |= {"first_hour_today": None, "last_message_at": None, "down_since": None, "name": "zap", "phone_number": ""}

    with override_settings(STATUS_STALE_AFTER_SECONDS=STALE.seconds):
        row = RowReader(now, Periods.of(now)).usage(tuple(values[f] for f in VALUE_FIELDS))

        assert row.fresh == is_fresh(now - age, now)
        assert row.shown_status == shown_status(stored, now - age, now)
