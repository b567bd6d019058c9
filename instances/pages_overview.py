"""What the fleet overview page shows, in a fixed number of queries whatever the fleet size.

One query for the fleet and its usage (``fleet_overview``), one for the open alerts counted
per instance, one for the newest finished check cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

# The overview shows the alerts app's data too; only its public queryset is used.
from alerts.models import Alert
from instances.dashboard import (
    FleetOverview,
    FleetStatus,
    FleetSummary,
    InstanceUsage,
    fleet_overview,
    status_label,
)
from instances.models import CheckCycle, status_emoji
from julia_monitor.lib.text import percent

# Stands for an instance's name in a URL reversed once per page, not once per row (a thousand
# ``reverse()`` calls cost more than the overview's query); see the ``for_name`` filter.
NAME_SLOT = "__nome__"


@dataclass(frozen=True)
class MonitorHealth:
    """Whether the check cycle still runs: its newest finished run, and if that is too old."""

    last_finished_at: datetime | None
    stale: bool


@dataclass(frozen=True)
class OverviewRow:
    usage: InstanceUsage
    open_alerts: int

    @property
    def name(self) -> str:
        return self.usage.name

    @property
    def status(self) -> str:
        """The status as shown: unknown when the reading is stale."""
        return self.usage.shown_status

    @property
    def emoji(self) -> str:
        return status_emoji(self.status)

    @property
    def status_display(self) -> str:
        return status_label(self.status)

    @property
    def load(self) -> str:
        return percent(self.usage.load_pct)


@dataclass(frozen=True)
class OverviewPage:
    overview: FleetOverview
    rows: list[OverviewRow]
    monitor: MonitorHealth

    @property
    def summary(self) -> FleetSummary:
        return self.overview.summary

    @property
    def status(self) -> FleetStatus:
        return self.summary.status

    @property
    def explanation(self) -> str:
        return fleet_explanation(self.summary)

    @property
    def capacity_used(self) -> str:
        return percent(self.summary.capacity_used_pct)


def fleet_explanation(summary: FleetSummary) -> str:
    """Return why the fleet has its status, in words (the banner's colour only reinforces it)."""
    if summary.total == 0:
        return "nenhuma instância ativa"
    text = f"{summary.online} de {summary.total} online"
    if summary.stale:
        text += f" · {summary.stale} sem leitura"
    if summary.status == FleetStatus.WARNING:
        text += f" · capacidade usada hoje {percent(summary.capacity_used_pct)}"
    return text


def open_alert_counts() -> dict[int, int]:
    """Return instance pk → number of open alerts, in one query."""
    rows = (
        Alert.objects.open()
        .filter(instance__isnull=False)
        .order_by()
        .values("instance")
        .annotate(open_count=Count("id"))
        .values_list("instance", "open_count")
    )
    return dict(rows)


def monitor_health(now: datetime) -> MonitorHealth:
    last = CheckCycle.last_finished()
    finished_at = last.finished_at if last else None
    return MonitorHealth(last_finished_at=finished_at, stale=CheckCycle.is_stale(finished_at, now))


def overview_page(now: datetime | None = None) -> OverviewPage:
    now = now or timezone.now()
    overview = fleet_overview(now)
    alerts = open_alert_counts()
    rows = [OverviewRow(usage, alerts.get(usage.pk, 0)) for usage in overview.instances]
    return OverviewPage(overview=overview, rows=rows, monitor=monitor_health(now))
