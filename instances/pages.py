"""What the fleet pages show: the overview and an instance's page, in a fixed number of queries.

The overview: one query for the fleet and its usage (``fleet_overview``), one for the open
alerts counted per instance, one for the newest finished check cycle, whatever the fleet's size.
Its rows come problems first (the worst status first, then by name), filtered and a page at a
time by ``instances.fleet_filters``; the summary is always the whole fleet's.
The instance page: status, usage, the 24-hour chart, history, uptime, doctors, alerts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.safestring import SafeString

# The pages show the alerts app's data too; only its public queryset is used.
from alerts.choices import Rule
from alerts.maintenance import MaintenanceWindow, active_windows_by_instance
from alerts.models import Alert
from instances.charts import usage_chart
from instances.fleet import (
    FleetOverview,
    FleetStatus,
    FleetSummary,
    InstanceUsage,
    fleet_overview,
    status_label,
    status_note,
)
from instances.fleet_filters import FleetPage, FleetQuery
from instances.forecast import Forecast, Periods, describe, instance_forecast
from instances.models import (
    CheckCycle,
    Doctor,
    Instance,
    MigrationBatch,
    OperatorAction,
    Status,
    StatusChange,
    is_fresh,
    status_emoji,
)
from instances.uptime import Uptime, uptime
from julia_monitor.lib.text import number, percent

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
    periods: Periods  # the overview's moment, for the forecast
    open_alerts: int
    maintenance: str = ""  # "em manutenção até 15:30" while a window covers the instance

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

    @property
    def forecast(self) -> str:
        """The limit the pace reaches first ("limite diário às 16:40"), for an online instance only."""
        return self.usage.forecast_at(self.periods).short if self.status == Status.CONNECTED else ""


# Problems first, the worst first: a person acts on a ban before a number that is reconnecting.
STATUS_ORDER: dict[str, int] = {
    Status.BANNED: 0,
    Status.DISCONNECTED: 1,
    Status.UNKNOWN: 2,
    Status.CONNECTING: 3,
    Status.CONNECTED: 4,
}


def problems_first(rows: list[InstanceUsage]) -> list[InstanceUsage]:
    """Return the rows by shown status (the worst first), then by name."""
    last = len(STATUS_ORDER)
    return sorted(rows, key=lambda r: (STATUS_ORDER.get(r.shown_status, last), r.name))


@dataclass(frozen=True)
class OverviewPage:
    overview: FleetOverview
    rows: list[OverviewRow]
    monitor: MonitorHealth
    # The page of the filtered fleet the rows are, with its totals.
    listing: FleetPage = field(default_factory=lambda: FleetPage([], 1, 1, 0))
    query: FleetQuery = field(default_factory=FleetQuery)
    # Shown status -> how many of the whole fleet show it.
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def problems(self) -> int:
        """Return how many instances show anything but connected."""
        return self.summary.total - self.by_status.get(Status.CONNECTED, 0)

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

    @property
    def forecast(self) -> str:
        """Return "previsão para hoje: 4.300 de 5.000 (86%)": today's sends at the pace, against online capacity."""
        s = self.summary
        return f"previsão para hoje: {number(s.projected_today)} de {number(s.capacity_day)} ({s.projected_pct:.0f}%)"


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
    finished_at = CheckCycle.monitor_finished_at(settings.CHECK_SHARDS)
    return MonitorHealth(last_finished_at=finished_at, stale=CheckCycle.is_stale(finished_at, now))


def overview_page(now: datetime | None = None, query: FleetQuery | None = None) -> OverviewPage:
    """Build the overview: the whole fleet's summary and the rows of ``query``'s page, problems first.

    Without a query, every instance (one page as large as the fleet).
    """
    now = now or timezone.now()
    overview = fleet_overview(now)
    alerts = open_alert_counts()
    fleet_window, windows = active_windows_by_instance(now)
    query = query or FleetQuery()
    listing = query.select(problems_first(overview.instances))
    rows = []
    for usage in listing.rows:
        window = windows.get(usage.pk) or fleet_window
        maintenance = window.until_label(now) if window else ""
        rows.append(OverviewRow(usage, overview.periods, alerts.get(usage.pk, 0), maintenance))
    return OverviewPage(
        overview=overview,
        rows=rows,
        monitor=monitor_health(now),
        listing=listing,
        query=query,
        by_status=dict(Counter(u.shown_status for u in overview.instances)),
    )


# --- An instance's page ---------------------------------------------------------------------

HISTORY_DAYS = 7
ALERTS_SHOWN = 20
ACTIONS_SHOWN = 10
DOCTORS_SHOWN = 100
# A flapping instance can change hundreds of times a week: the timeline shows the newest ones.
TIMELINE_SHOWN = 100
# Statuses an operator may want to leave by asking the gateway for a new QR code.
RECONNECTABLE = frozenset({Status.DISCONNECTED, Status.BANNED, Status.UNKNOWN, Status.CONNECTING})


def instance_with_usage(name: str, now: datetime) -> Instance | None:
    """Return the instance annotated with ``msgs_hour`` and ``msgs_day``, or None."""
    return Instance.objects.with_usage(now).filter(name=name).first()


def can_reconnect(instance: Instance, now: datetime) -> bool:
    """Offer a new QR code unless the instance is known to be connected (a stale reading is not)."""
    return instance.shown_status(now) in RECONNECTABLE


@dataclass(frozen=True)
class StatusArea:
    """The part of the page that is reloaded once a reconnection succeeds.

    It shows the status as people should see it: unknown when the last reading is stale.
    """

    instance: Instance
    now: datetime

    @property
    def status(self) -> str:
        return self.instance.shown_status(self.now)

    @property
    def status_display(self) -> str:
        return status_label(self.status)

    @property
    def emoji(self) -> str:
        return status_emoji(self.status)

    @property
    def stale(self) -> bool:
        return not is_fresh(self.instance.last_read_at, self.now)

    @property
    def note(self) -> str:
        """Why it shows this status: "sem leitura desde 14:27", or the recorded reason."""
        i = self.instance
        return status_note(i.status, i.status_reason, i.last_read_at, self.now)

    @property
    def reason(self) -> str:
        """The reason recorded for the last status read, unless that status is connected."""
        i = self.instance
        return "" if i.status == Status.CONNECTED else i.status_reason or i.disconnection_reason

    @property
    def down_since(self) -> datetime | None:
        """When the current outage began, unless the instance is seen connected now."""
        return None if self.status == Status.CONNECTED else self.instance.down_since

    @property
    def load(self) -> str:
        return percent(self.instance.load_pct)

    @property
    def reconnectable(self) -> bool:
        return can_reconnect(self.instance, self.now)


@dataclass(frozen=True)
class InstancePage:
    status: StatusArea
    chart: SafeString
    usage_total_24h: int
    uptime_24h: Uptime
    uptime_7d: Uptime
    timeline: list[StatusChange]
    timeline_total: int
    doctors: list[Doctor]
    doctors_total: int
    alerts: list[Alert]
    forecast: Forecast
    actions: list[OperatorAction] = field(default_factory=list)
    # Current and upcoming maintenance windows that cover the instance (soonest first).
    maintenance: list[MaintenanceWindow] = field(default_factory=list)

    @property
    def instance(self) -> Instance:
        return self.status.instance

    @property
    def forecast_hour(self) -> str:
        return describe(self.forecast.hour, "da hora")

    @property
    def forecast_day(self) -> str:
        return describe(self.forecast.day, "diário")


def _recent_changes(instance: Instance, since: datetime) -> list[StatusChange]:
    return list(instance.status_changes.filter(created_at__gte=since).order_by("created_at", "id"))


def _first(queryset: QuerySet, limit: int) -> tuple[list, int]:
    """Return up to ``limit`` rows and how many there are in all (counted only when cut)."""
    rows = list(queryset[: limit + 1])
    if len(rows) <= limit:
        return rows, len(rows)
    return rows[:limit], queryset.count()


def instance_page(instance: Instance, now: datetime | None = None) -> InstancePage:
    """Build the page for an instance fetched with ``instance_with_usage``."""
    now = now or timezone.now()
    points = instance.usage_by_hour(24, now)
    # One fetch serves the timeline and both uptimes: the 7-day window contains the 24-hour one.
    changes = _recent_changes(instance, now - timedelta(days=HISTORY_DAYS))
    doctors, doctors_total = _first(instance.doctors.order_by("name"), DOCTORS_SHOWN)
    newest_first = changes[::-1]
    return InstancePage(
        status=StatusArea(instance, now),
        chart=usage_chart(points, instance.capacity_per_hour),
        usage_total_24h=sum(count for _hour, count in points),
        uptime_24h=uptime(changes, instance.status, now - timedelta(hours=24), now, since=instance.created_at),
        uptime_7d=uptime(changes, instance.status, now - timedelta(days=HISTORY_DAYS), now, since=instance.created_at),
        timeline=newest_first[:TIMELINE_SHOWN],
        timeline_total=len(changes),
        doctors=doctors,
        doctors_total=doctors_total,
        alerts=list(Alert.objects.filter(instance=instance).open_first()[:ALERTS_SHOWN]),
        forecast=instance_forecast(instance, now),
        actions=list(instance.operator_actions.select_related("user")[:ACTIONS_SHOWN]),
        maintenance=list(
            MaintenanceWindow.objects.current_and_upcoming(now).covering(instance).order_by("starts_at", "id")
        ),
    )


# --- The "Médicos migrados" section of an instance's page --------------------------------------

MIGRATIONS_SHOWN = 10


@dataclass(frozen=True)
class DoctorMovesArea:
    instance: Instance
    doctors_total: int
    batches: list[MigrationBatch]


def doctor_moves_area(instance: Instance) -> DoctorMovesArea:
    """The instance's latest migrations off it and how many doctors it has now (two queries)."""
    batches = instance.migration_batches.select_related("user", "undone_by")[:MIGRATIONS_SHOWN]
    return DoctorMovesArea(instance, instance.doctors.count(), list(batches))


def open_unstable_ids() -> set[int]:
    """Return the instances with an open "instável" alert: a drain moves no doctor onto them."""
    rows = Alert.objects.open().filter(rule=Rule.INSTANCE_UNSTABLE, instance__isnull=False)
    return set(rows.values_list("instance_id", flat=True))
