"""The overview's shortcuts for 10,000 rows say what the general functions say: the day's
projection, freshness at its boundary, and moments written as Django's JSON encoder wrote them; and
rows built once are built again as soon as anything they show changes, the clock included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
import time_machine
from django.core.serializers.json import DjangoJSONEncoder
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from instances.api import instance_json, instance_row
from instances.fleet import InstanceUsage, RowReader, fleet_overview, read_rows
from instances.fleet_rows import VALUE_FIELDS
from instances.forecast import Periods, day_projection, forecast
from instances.models import ApiKey, Instance, Status, is_fresh, shown_status
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
        row = RowReader(now).usage(tuple(values[f] for f in VALUE_FIELDS))

        assert row.fresh == is_fresh(now - age, now)
        assert row.shown_status == shown_status(stored, now - age, now)


# --- Rows built once: an overview reuses the rows of the last one while nothing they show changed ---

DAY = datetime(2026, 11, 25, 14, 30, tzinfo=SP)


def rows_by_name(now: datetime) -> dict[str, InstanceUsage]:
    with time_machine.travel(now, tick=False):
        return {row.name: row for row in fleet_overview(now).instances}


@pytest.mark.django_db
def test_only_the_instance_that_changed_gets_a_new_row(make_instance) -> None:
    with time_machine.travel(DAY, tick=False):
        busy, quiet = make_instance("zap-busy"), make_instance("zap-quiet")
        busy.record_sent(count=2)
    before = rows_by_name(DAY)

    with time_machine.travel(DAY, tick=False):
        busy.record_sent(count=3)
        Instance.objects.filter(pk=quiet.pk).update(status=Status.DISCONNECTED, status_reason="caiu")
    after = rows_by_name(DAY)
    unchanged = rows_by_name(DAY)

    assert (after["zap-busy"].msgs_day, after["zap-quiet"].shown_status) == (5, Status.DISCONNECTED)
    assert after["zap-quiet"].note == "caiu"
    assert after["zap-busy"] is not before["zap-busy"]
    assert unchanged["zap-busy"] is after["zap-busy"]
    assert unchanged["zap-quiet"] is after["zap-quiet"]


@pytest.mark.django_db
def test_a_reading_goes_stale_with_the_clock_alone(make_instance, client) -> None:
    with time_machine.travel(DAY, tick=False):
        make_instance("zap-01", last_read_at=DAY - timedelta(minutes=2))
    _key, secret = ApiKey.issue("painel")
    fresh = rows_by_name(DAY)["zap-01"]

    later = DAY + timedelta(minutes=5)
    stale = rows_by_name(later)["zap-01"]
    with time_machine.travel(later, tick=False):
        shown = client.get("/dashboard/instances", HTTP_X_API_KEY=secret).json()["instancias"][0]

    assert fresh.shown_status == Status.CONNECTED
    assert (stale.shown_status, stale.note) == (Status.UNKNOWN, "sem leitura desde 14:28")
    assert (shown["status"], shown["motivo_status"]) == (Status.UNKNOWN, "sem leitura desde 14:28")


@pytest.mark.django_db
def test_a_stale_note_names_the_day_once_it_is_not_today(make_instance) -> None:
    with time_machine.travel(DAY, tick=False):
        make_instance("zap-01", last_read_at=DAY - timedelta(hours=1))

    today = rows_by_name(DAY)["zap-01"]
    tomorrow = rows_by_name(DAY + timedelta(days=1))["zap-01"]

    assert today.note == "sem leitura desde 13:30"
    assert tomorrow.note == "sem leitura desde 25/11 13:30"


@pytest.mark.django_db
def test_a_new_reading_alone_moves_the_moment_and_nothing_else(make_instance, client) -> None:
    with time_machine.travel(DAY, tick=False):
        make_instance("zap-01", last_read_at=DAY - timedelta(minutes=1)).record_sent(count=3)
        make_instance("zap-02", status=Status.DISCONNECTED, status_reason="caiu", last_read_at=DAY)
    _key, secret = ApiKey.issue("painel")

    def shown(at: datetime) -> dict[str, dict]:
        with time_machine.travel(at, tick=False):
            body = client.get("/dashboard/instances", HTTP_X_API_KEY=secret).json()
        return {row["nome"]: row for row in body["instancias"]}

    before = shown(DAY)
    cycle = DAY + timedelta(minutes=1)
    Instance.objects.update(last_read_at=cycle)  # what a check cycle that saw no change writes
    after = shown(cycle)

    for name in ("zap-01", "zap-02"):
        assert after[name]["ultima_leitura"] == "2026-11-25T14:31:00-03:00"
        assert {**after[name], "ultima_leitura": None} == {**before[name], "ultima_leitura": None}
    assert (after["zap-01"]["msgs_dia"], after["zap-02"]["motivo_status"]) == ("3/100", "caiu")


# One instance's values over a sequence of overviews: what the gateway read (status, moment),
# what it sent, and how far the clock moved; rows reused must be the rows built from scratch.
steps = st.lists(
    st.tuples(
        st.sampled_from(["nothing", "read", "read late", "read stale", "send", "status"]),
        st.sampled_from([0, 30, 170, 200, 3600, 86_400]),  # seconds the clock moves after
    ),
    min_size=1,
    max_size=12,
)


@given(steps=steps, as_text=st.booleans())
@override_settings(STATUS_STALE_AFTER_SECONDS=180)
def test_rows_reused_are_the_rows_built_from_scratch(steps: list[tuple[str, int]], as_text: bool) -> None:
    def written(at: datetime | None) -> datetime | str | None:
        # PostgreSQL's rows bring moments as text, SQLite's as datetimes.
        return at.astimezone(UTC).isoformat(sep=" ") if as_text and at else at

    now = DAY
    values = dict.fromkeys(VALUE_FIELDS, None) | {"pk": 1, "name": "zap", "phone_number": "55", "status_reason": ""}
    values |= {"status": Status.CONNECTED, "capacity_per_hour": 20, "capacity_per_day": 100, "msgs_hour": 0}
    values |= {"msgs_day": 0, "last_read_at": now}
    for event, seconds in steps:
        if event == "read":
            values["last_read_at"] = now
        elif event == "read late":  # a reading dated by a slow probe, already older than now
            values["last_read_at"] = now - timedelta(seconds=100)
        elif event == "read stale":  # dated by a clock far behind: stale already, a new note
            values["last_read_at"] = now - timedelta(seconds=600)
        elif event == "send":
            values |= {"msgs_hour": values["msgs_hour"] + 1, "msgs_day": values["msgs_day"] + 1}
            values |= {"last_message_at": now, "first_hour_today": now.replace(minute=0, second=0)}
        elif event == "status":
            down = values["status"] == Status.CONNECTED
            values |= {"status": Status.DISCONNECTED if down else Status.CONNECTED, "last_read_at": now}
            values |= {"status_reason": "caiu" if down else "", "down_since": now if down else None}
        row_values = tuple(written(v) if isinstance(v, datetime) else v for v in (values[f] for f in VALUE_FIELDS))

        (reused,) = read_rows([row_values], now, Periods.of(now))
        scratch = RowReader(now).usage(row_values)

        assert reused == scratch
        assert orjson.dumps(instance_json(reused)) == orjson.dumps(instance_row(scratch))
        now += timedelta(seconds=seconds)
