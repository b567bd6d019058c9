"""The capacity forecast: when an instance hits its hourly and daily limits at the current pace.

The pace is the plain average since the period's start, from the usage already fetched with
the usage itself (no extra query):

- this hour: this hour's messages ÷ the time elapsed since the local clock hour began;
- today: today's messages ÷ the time elapsed since the start of today's first hour with
  messages (``first_hour_today``). Not since midnight: a fleet that starts sending at 08:00
  would have its pace spread over eight silent hours and every morning forecast far too low.
  The hour's start, not the first message's minute, is what the hourly counts know: it can
  only make the pace a little slower than the real one, never a false alarm.

Too little data makes no forecast ("sem previsão"): fewer than ``FORECAST_MIN_MINUTES`` since
the period's start or fewer than ``FORECAST_MIN_MESSAGES`` messages in it. The projection is
``used + pace × time left``; a limit is forecast only when it is reached before the period ends.
Periods end on São Paulo's clock (``America/Sao_Paulo`` through zoneinfo); elapsed and
remaining times are measured in UTC, so a day of 23 or 25 hours would still be measured right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from instances.models import Instance, day_start, hour_start
from julia_monitor.lib import text


def hour_end(at: datetime) -> datetime:
    """Return the end of the local clock hour that contains ``at``."""
    return (hour_start(at).astimezone(UTC) + timedelta(hours=1)).astimezone(timezone.get_current_timezone())


def day_end(at: datetime) -> datetime:
    """Return the next local midnight after ``at`` (wall clock, whatever the day's length)."""
    local = timezone.localtime(at)
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time.min, tzinfo=local.tzinfo)


def seconds_between(start: datetime, end: datetime) -> float:
    """Return the real time from ``start`` to ``end`` in seconds."""
    # Aware datetimes sharing a tzinfo subtract as wall clocks; timestamps are real elapsed time.
    return end.timestamp() - start.timestamp()


@dataclass(frozen=True)
class Periods:
    """The hour and the day around a moment, as POSIX timestamps: worked out once for a whole
    fleet (the overview forecasts a thousand rows; zone arithmetic per row cost 60 ms)."""

    now: datetime
    at: float
    hour_start: float
    hour_end: float
    day_start: float
    day_end: float
    # The settings, read once too: a thousand rows reading them twice each cost ~5 ms.
    min_seconds: float
    min_messages: int

    @classmethod
    def of(cls, now: datetime) -> Periods:
        return cls(
            now=now,
            at=now.timestamp(),
            hour_start=hour_start(now).timestamp(),
            hour_end=hour_end(now).timestamp(),
            day_start=day_start(now).timestamp(),
            day_end=day_end(now).timestamp(),
            min_seconds=settings.FORECAST_MIN_MINUTES * 60,
            min_messages=settings.FORECAST_MIN_MESSAGES,
        )


@dataclass(frozen=True)
class Pace:
    """One limit (this hour's or today's) at the current pace.

    ``projected`` is the count at the period's end at this pace (None: too little data to say);
    ``limit_at`` when the count reaches the capacity, if that happens before the period ends.
    """

    used: int
    capacity: int
    projected: int | None = None
    limit_at: datetime | None = None

    @property
    def reached(self) -> bool:
        return self.used >= self.capacity

    @property
    def known(self) -> bool:
        return self.projected is not None


def pace(used: int, capacity: int, since: float, end: float, periods: Periods) -> Pace:
    """Return the limit ``capacity`` at the pace of ``used`` messages since ``since``, until ``end``."""
    if used >= capacity:
        return Pace(used, capacity, projected=used)
    elapsed = periods.at - since
    if elapsed < periods.min_seconds or used < periods.min_messages:
        return Pace(used, capacity)
    per_second = used / elapsed
    projected = used + int(per_second * max(end - periods.at, 0.0))
    limit_at = None
    if projected >= capacity:
        limit_at = periods.now + timedelta(seconds=(capacity - used) / per_second)
    return Pace(used, capacity, projected=projected, limit_at=limit_at)


@dataclass(frozen=True)
class Forecast:
    hour: Pace
    day: Pace

    def day_projection_within(self, capacity: int) -> int:
        """Return today's projected count, never above ``capacity`` (a limit stops the sends) nor
        below what was already sent; without a forecast, what was sent."""
        day = self.day
        if day.projected is None:
            return day.used
        return max(day.used, min(day.projected, capacity))

    @property
    def short(self) -> str:
        """Return the overview's note: the limit this pace reaches first, or "" if none."""
        if self.day.limit_at is not None:
            return f"limite diário às {text.hour_minute(self.day.limit_at)}"
        if self.hour.limit_at is not None:
            return f"limite da hora às {text.hour_minute(self.hour.limit_at)}"
        return ""


def forecast(
    msgs_hour: int,
    capacity_per_hour: int,
    msgs_day: int,
    capacity_per_day: int,
    first_hour_today: datetime | None,
    now: datetime | Periods,
) -> Forecast:
    """Return the forecast of an instance's usage (the numbers of ``Instance.objects.with_usage``).

    ``now`` may be the ``Periods`` of the moment, to forecast many instances at the same one.
    """
    periods = now if isinstance(now, Periods) else Periods.of(now)
    day_from = first_hour_today.timestamp() if first_hour_today is not None else periods.day_start
    return Forecast(
        hour=pace(msgs_hour, capacity_per_hour, periods.hour_start, periods.hour_end, periods),
        day=pace(msgs_day, capacity_per_day, day_from, periods.day_end, periods),
    )


def day_projection(msgs_day: int, capacity_per_day: int, first_hour_today: datetime | None, periods: Periods) -> int:
    """Return ``forecast(...).day_projection_within(capacity_per_day)`` without building the forecast.

    The fleet's ``previsao_dia`` sums it over every online instance: at 10,000 instances the
    objects of a whole forecast per row cost more than the rest of the summary.
    """
    if msgs_day >= capacity_per_day or msgs_day < periods.min_messages:
        return msgs_day
    since = first_hour_today.timestamp() if first_hour_today is not None else periods.day_start
    elapsed = periods.at - since
    if elapsed < periods.min_seconds:
        return msgs_day
    projected = msgs_day + int(msgs_day / elapsed * max(periods.day_end - periods.at, 0.0))
    return max(msgs_day, min(projected, capacity_per_day))


def instance_forecast(instance: Instance, now: datetime | Periods) -> Forecast:
    """Return the forecast of an instance read through ``Instance.objects.with_usage(now)``."""
    i = instance
    return forecast(i.msgs_hour, i.capacity_per_hour, i.msgs_day, i.capacity_per_day, i.first_hour_today, now)


def describe(p: Pace, period: str) -> str:
    """Return the forecast in words: "limite diário às 16:40 neste ritmo", "sem previsão"…

    ``period`` is "da hora" or "diário".
    """
    if p.reached:
        return f"limite {period} atingido"
    if p.projected is None:
        return "sem previsão"
    if p.limit_at is not None:
        return f"limite {period} às {text.hour_minute(p.limit_at)} neste ritmo"
    end = "fim da hora" if period == "da hora" else "fim do dia"
    return f"dentro do limite neste ritmo: {p.projected} de {p.capacity} até o {end}"
