"""The fleet at a glance: the numbers behind /dashboard/instances and the overview page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from instances.models import Instance, Status, load_percent

# Fleet capacity used above this share of today's capacity is a warning.
CAPACITY_WARNING_PCT = 80.0


class FleetStatus(models.TextChoices):
    HEALTHY = "healthy", "Saudável"
    WARNING = "warning", "Atenção"
    DEGRADED = "degraded", "Degradada"
    CRITICAL = "critical", "Crítica"


def fleet_status(online: int, total: int, capacity_used_pct: float) -> FleetStatus:
    """Return the fleet status by the spec's rules, the most severe first."""
    if online == 0:
        return FleetStatus.CRITICAL
    if online < total / 2:
        return FleetStatus.DEGRADED
    if capacity_used_pct > CAPACITY_WARNING_PCT:
        return FleetStatus.WARNING
    return FleetStatus.HEALTHY


def format_pct(value: float) -> str:
    return f"{value:.1f}%"


def plural(count: int, one: str, many: str) -> str:
    """Return "1 falha" / "3 falhas": the count with the word that agrees with it."""
    return f"{count} {one if count == 1 else many}"


def format_span(delta: timedelta) -> str:
    """Return a span of time in pt-BR words: "40 s", "45 min", "3 h 5 min", "2 d 4 h"."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    days, minutes = divmod(seconds // 60, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


ROW_FIELDS = ("pk", "name", "phone_number", "status", "capacity_per_hour", "capacity_per_day", "last_message_at")


@dataclass(frozen=True)
class InstanceUsage:
    """One instance's identity, status and usage this hour and today (no model instance)."""

    pk: int
    name: str
    phone_number: str
    status: str
    capacity_per_hour: int
    capacity_per_day: int
    last_message_at: datetime | None
    msgs_hour: int
    msgs_day: int

    @property
    def load_pct(self) -> float:
        return load_percent(self.msgs_hour, self.capacity_per_hour, self.msgs_day, self.capacity_per_day)


@dataclass(frozen=True)
class FleetSummary:
    total: int
    online: int
    offline: int
    banned: int
    capacity_day: int
    sent_today: int

    @property
    def capacity_used_pct(self) -> float:
        return self.sent_today / self.capacity_day * 100 if self.capacity_day else 0.0

    @property
    def status(self) -> FleetStatus:
        return fleet_status(self.online, self.total, self.capacity_used_pct)


@dataclass(frozen=True)
class FleetOverview:
    at: datetime
    summary: FleetSummary
    instances: list[InstanceUsage]


def fleet_overview(now: datetime | None = None) -> FleetOverview:
    """Return every active instance with its usage and the fleet summary, in one query."""
    now = now or timezone.now()
    # Plain values, not model instances: the overview of 1,000 instances stays fast.
    rows = [
        InstanceUsage(**v) for v in Instance.objects.for_dashboard(now).values(*ROW_FIELDS, "msgs_hour", "msgs_day")
    ]
    online = sum(1 for r in rows if r.status == Status.CONNECTED)
    banned = sum(1 for r in rows if r.status == Status.BANNED)
    summary = FleetSummary(
        total=len(rows),
        online=online,
        offline=len(rows) - online - banned,
        banned=banned,
        capacity_day=sum(r.capacity_per_day for r in rows),
        sent_today=sum(r.msgs_day for r in rows),
    )
    return FleetOverview(at=now, summary=summary, instances=rows)
