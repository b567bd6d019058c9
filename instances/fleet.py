"""The fleet at a glance: the numbers behind /dashboard/instances and the overview page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from instances.fleet_rows import MOMENT_FIELDS, VALUE_FIELDS, dashboard_values
from instances.forecast import Forecast, Periods, day_projection, forecast
from instances.models import Status, StatusChange, is_fresh, load_percent
from julia_monitor.lib.text import clock

STATUS_LABELS = dict(Status.choices)


class FleetStatus(models.TextChoices):
    HEALTHY = "healthy", "Saudável"
    WARNING = "warning", "Atenção"
    DEGRADED = "degraded", "Degradada"
    CRITICAL = "critical", "Crítica"


def is_high_load(load_pct: float) -> bool:
    """Return True above CAPACITY_ALERT_PCT (the specification's 80 %): an instance's load, the
    fleet's capacity used today, a meter or a chart bar all run hot at the same point."""
    return load_pct > settings.CAPACITY_ALERT_PCT


def recent_drops(now: datetime) -> dict[int, list[datetime]]:
    """Return, per active instance, when it left ``connected`` within the last FLAP_WINDOW_MINUTES."""
    window = timedelta(minutes=settings.FLAP_WINDOW_MINUTES)
    rows = (
        StatusChange.objects.filter(
            old_status=Status.CONNECTED, created_at__gt=now - window, created_at__lte=now, instance__is_active=True
        )
        .order_by("created_at")
        .values_list("instance_id", "created_at")
    )
    drops: dict[int, list[datetime]] = defaultdict(list)
    for instance_id, at in rows:
        drops[instance_id].append(at)
    return drops


def flapping(now: datetime) -> set[int]:
    """Return the instances "instável" opens for: FLAP_DROPS drops or more within the window."""
    return {pk for pk, drops in recent_drops(now).items() if len(drops) >= settings.FLAP_DROPS}


def fleet_status(online: int, total: int, capacity_used_pct: float) -> FleetStatus:
    """Return the fleet status by the spec's rules, the most severe first."""
    if online == 0:
        return FleetStatus.CRITICAL
    if online < total / 2:
        return FleetStatus.DEGRADED
    if is_high_load(capacity_used_pct):
        return FleetStatus.WARNING
    return FleetStatus.HEALTHY


def status_label(status: str) -> str:
    """Return the status in words ("Conectada", "Desconhecida")."""
    return STATUS_LABELS.get(status, status)


def status_note(status: str, reason: str, last_read_at: datetime | None, now: datetime) -> str:
    """Return why an instance shows the status it shows, in words, or "" when there is nothing to say.

    A stale reading says since when the gateway has not told its state ("sem leitura desde
    14:27"); otherwise the reason recorded with a status other than connected.
    """
    return _note(is_fresh(last_read_at, now), status, reason, last_read_at, now)


def _note(fresh: bool, status: str, reason: str, last_read_at: datetime | None, now: datetime) -> str:
    if not fresh:
        return f"sem leitura desde {clock(last_read_at, now)}" if last_read_at else "sem leitura do gateway"
    return reason if status != Status.CONNECTED else ""


@dataclass(frozen=True)
class InstanceUsage:
    """One instance's identity, status and usage this hour and today (no model instance).

    ``shown_status`` is the status as people see it at the overview's moment: ``unknown``
    when the reading behind ``status`` is stale (``fresh`` is False). A row depends on its
    values, its freshness and the day alone, so the same row serves every overview until one
    of them changes (``read_rows``); ``derived`` keeps what others work out from it once (the
    API's JSON of the row). A fresh row read again shares ``derived`` with the row before it,
    so what depends on ``last_read_at`` is kept there with the moment it was worked out for.
    The capacity forecast moves with the clock: ``forecast_at(periods)``.
    """

    pk: int
    name: str
    phone_number: str
    status: str
    status_reason: str
    capacity_per_hour: int
    capacity_per_day: int
    last_message_at: datetime | None
    last_read_at: datetime | None
    down_since: datetime | None
    first_hour_today: datetime | None
    msgs_hour: int
    msgs_day: int
    fresh: bool
    shown_status: str
    note: str
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def forecast_at(self, periods: Periods) -> Forecast:
        return forecast(
            self.msgs_hour,
            self.capacity_per_hour,
            self.msgs_day,
            self.capacity_per_day,
            self.first_hour_today,
            periods,
        )

    @property
    def load_pct(self) -> float:
        return load_percent(self.msgs_hour, self.capacity_per_hour, self.msgs_day, self.capacity_per_day)


_STATUS, _REASON = VALUE_FIELDS.index("status"), VALUE_FIELDS.index("status_reason")
_MOMENTS = tuple(VALUE_FIELDS.index(name) for name in MOMENT_FIELDS)
assert VALUE_FIELDS[-1] == "last_read_at", "read_rows keys a fresh row by the values before it"


class RowReader:
    """Turns the values of ``VALUE_FIELDS`` into ``InstanceUsage`` rows at one moment.

    What every row shares (the moment, the freshness cut-off) is worked out once: at 10,000
    instances, reading a setting or building a frozen dataclass per row costs more than the query.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        # is_fresh() as a comparison: a reading is fresh when taken at or after this instant.
        self.fresh_since = now - timedelta(seconds=settings.STATUS_STALE_AFTER_SECONDS)
        self._parsed: dict[str, datetime] = {}

    def moment(self, value: datetime | str | None) -> datetime | None:
        """Return a moment of the values: PostgreSQL's rows bring them as text (``dashboard_values``).

        Each text is parsed once per reader: the rows share most of their moments (a check cycle
        reads the fleet at one instant, and hours start on the hour).
        """
        if not isinstance(value, str):
            return value
        at = self._parsed.get(value)
        if at is None:
            at = self._parsed[value] = datetime.fromisoformat(value)
        return at

    def is_fresh(self, read_at: datetime | None) -> bool:
        return read_at is not None and read_at >= self.fresh_since

    def usage(self, values: tuple[Any, ...], fresh: bool | None = None) -> InstanceUsage:
        status = values[_STATUS]
        attributes = dict(zip(VALUE_FIELDS, values, strict=True))
        for index in _MOMENTS:
            attributes[VALUE_FIELDS[index]] = self.moment(values[index])
        fresh = self.is_fresh(attributes["last_read_at"]) if fresh is None else fresh
        attributes["fresh"] = fresh
        attributes["shown_status"] = status if fresh else Status.UNKNOWN
        attributes["note"] = _note(fresh, status, values[_REASON], attributes["last_read_at"], self.now)
        attributes["derived"] = {}
        # The generated __init__ of a frozen dataclass sets each of its 17 fields through
        # object.__setattr__; filling the instance's dictionary at once is several times faster.
        row = object.__new__(InstanceUsage)
        row.__dict__.update(attributes)
        return row

    @staticmethod
    def read_again(row: InstanceUsage, read_at: datetime | None) -> InstanceUsage:
        """Return the fresh ``row`` with another fresh reading: it shows the same, and shares ``derived``."""
        again = object.__new__(InstanceUsage)
        again.__dict__.update(row.__dict__)
        again.__dict__["last_read_at"] = read_at
        return again


@dataclass
class KnownRows:
    """The last overview's row of each instance and the values it was built from, on one day.

    Most of a large fleet does not change between two refreshes, and its rows (and their JSON)
    are not built again. Replaced whole by each overview, so it holds one fleet's rows at most.
    Two dictionaries by instance rather than one of pairs: a pair per row would be 10,000 more
    objects for the garbage collector to follow at every refresh.
    """

    day: float = 0.0
    values: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    rows: dict[int, InstanceUsage] = field(default_factory=dict)


_known = KnownRows()


def read_rows(all_values: list[tuple[Any, ...]], now: datetime, periods: Periods) -> list[InstanceUsage]:
    """Return the rows of ``all_values`` at ``now``, reusing those the last overview built.

    A row is a function of its values, of whether its reading is fresh at ``now`` and of the
    day (a stale reading's note says the day when it is not today's). A fresh row shows nothing
    of when it was read but the moment itself: after a check cycle, which reads every instance
    again and changes nothing else in most of them, such a row is copied with its new
    ``last_read_at`` (``read_again``), not built again.
    """
    global _known
    reader, known = RowReader(now), _known
    if known.day != periods.day_start:
        known = KnownRows()
    current = KnownRows(periods.day_start)
    rows = []
    for values in all_values:
        pk, read_at = values[0], reader.moment(values[-1])
        fresh = reader.is_fresh(read_at)
        row = known.rows.get(pk)
        if row is None or row.fresh != fresh:
            row = reader.usage(values, fresh)
        elif (last := known.values[pk]) != values:
            # Read again by a cycle, and nothing else changed: the same row at its new moment.
            same = fresh and last[:-1] == values[:-1]
            row = reader.read_again(row, read_at) if same else reader.usage(values, fresh)
        current.values[pk] = values
        current.rows[pk] = row
        rows.append(row)
    _known = current
    return rows


@dataclass(frozen=True)
class FleetSummary:
    """The fleet in numbers, by shown status: a stale reading is neither online nor banned.

    ``capacity_day`` is the daily capacity of the instances online now (what the fleet can
    still send with), so ``capacity_used_pct`` is today's sends against it. ``projected_today``
    is the forecast of today's sends at the current pace, on the same capacity: an online
    instance's projection (at most its daily limit), what the others already sent.
    """

    total: int
    online: int
    offline: int
    banned: int
    capacity_day: int
    sent_today: int
    stale: int = 0  # instances whose reading is stale (shown unknown)
    projected_today: int = 0

    @property
    def capacity_used_pct(self) -> float:
        return self.sent_today / self.capacity_day * 100 if self.capacity_day else 0.0

    @property
    def projected_pct(self) -> float:
        return self.projected_today / self.capacity_day * 100 if self.capacity_day else 0.0

    @property
    def status(self) -> FleetStatus:
        return fleet_status(self.online, self.total, self.capacity_used_pct)


@dataclass(frozen=True)
class FleetOverview:
    at: datetime
    periods: Periods
    summary: FleetSummary
    instances: list[InstanceUsage]


def fleet_overview(now: datetime | None = None) -> FleetOverview:
    """Return every active instance with its usage and the fleet summary, in one query."""
    now = now or timezone.now()
    periods = Periods.of(now)
    rows = read_rows(dashboard_values(now), now, periods)
    return FleetOverview(at=now, periods=periods, summary=summarise(rows, periods), instances=rows)


def summarise(rows: list[InstanceUsage], periods: Periods) -> FleetSummary:
    """Return the fleet's numbers from its rows, in one pass (10,000 rows, six sums)."""
    online = banned = stale = capacity_day = sent_today = projected = 0
    for r in rows:
        status = r.shown_status
        sent_today += r.msgs_day
        if status == Status.CONNECTED:  # forecast at its pace; a number that is down is not sending
            projected += day_projection(r.msgs_day, r.capacity_per_day, r.first_hour_today, periods)
            online += 1
            capacity_day += r.capacity_per_day
        else:
            projected += r.msgs_day
            if status == Status.BANNED:
                banned += 1
        if not r.fresh:
            stale += 1
    return FleetSummary(
        total=len(rows),
        online=online,
        offline=len(rows) - online - banned,
        banned=banned,
        capacity_day=capacity_day,
        sent_today=sent_today,
        stale=stale,
        projected_today=projected,
    )
