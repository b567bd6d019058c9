"""The fleet at a glance: the numbers behind /dashboard/instances and the overview page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.utils import timezone

from instances.models import Instance, Status, load_percent

# Fleet capacity used above this share of today's capacity is a warning (DESIGN.md).
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


@dataclass(frozen=True)
class InstanceUsage:
    """One instance with its usage this hour and today."""

    instance: Instance
    msgs_hour: int
    msgs_day: int
    last_message_at: datetime | None

    @property
    def load_pct(self) -> float:
        i = self.instance
        return load_percent(self.msgs_hour, i.capacity_per_hour, self.msgs_day, i.capacity_per_day)

    @classmethod
    def of(cls, instance: Instance) -> InstanceUsage:
        """Wrap an instance annotated by ``InstanceQuerySet.with_usage``."""
        return cls(instance, instance.msgs_hour, instance.msgs_day, instance.last_message_at)


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
    rows = [InstanceUsage.of(i) for i in Instance.objects.for_dashboard(now)]
    online = sum(1 for r in rows if r.instance.status == Status.CONNECTED)
    banned = sum(1 for r in rows if r.instance.status == Status.BANNED)
    summary = FleetSummary(
        total=len(rows),
        online=online,
        offline=len(rows) - online - banned,
        banned=banned,
        capacity_day=sum(r.instance.capacity_per_day for r in rows),
        sent_today=sum(r.msgs_day for r in rows),
    )
    return FleetOverview(at=now, summary=summary, instances=rows)
