"""The alerting side of the portal at one moment, in one query: what /metrics reports of it.

Open alerts by rule and severity, the outbox's backlog by channel, each configured remote
channel as a circuit and what maintenance windows cover now. A Prometheus scrape pays for it
on every pass, whatever the number of alerts, notifications or windows, so the four parts are
one ``UNION ALL`` of small aggregates with a common shape (``COLUMNS``) instead of four round
trips.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db import models
from django.db.models import Case, Count, F, Min, Value, When
from django.db.models.functions import Cast

from alerts.channels import remote_channels
from alerts.choices import RULE_SEVERITY, NotificationState
from alerts.maintenance import MaintenanceWindow
from alerts.models import Alert, ChannelStatus, Notification
from julia_monitor.lib.circuits import CircuitState

# The shape every part of the union takes: what it is, two keys, a number and two moments.
COLUMNS = ("part", "label", "detail", "number", "at", "until")
BACKLOG_STATES = (NotificationState.PENDING, NotificationState.FAILED)
WHOLE_FLEET = "frota"


def _text(value: str) -> Value:
    return Value(value, output_field=models.CharField())


# Typed: PostgreSQL cannot match an untyped NULL with a timestamp across a UNION.
NO_MOMENT = Cast(Value(None), models.DateTimeField())


@dataclass(frozen=True)
class ChannelBacklog:
    pending: int = 0
    failed: int = 0
    oldest_pending_at: datetime | None = None


@dataclass(frozen=True)
class AlertingOverview:
    """``open_alerts``: (rule, severity) → count, every rule at its severity present (0 if none)."""

    open_alerts: dict[tuple[str, str], int]
    outbox: dict[str, ChannelBacklog]
    channel_circuits: dict[str, CircuitState]
    maintenance_whole_fleet: bool = False
    maintenance_instances: set[int] = field(default_factory=set)

    def in_maintenance(self, instance_id: int) -> bool:
        return self.maintenance_whole_fleet or instance_id in self.maintenance_instances


def remote_channel_names() -> list[str]:
    return [str(t.channel) for t in remote_channels()]


def channel_circuits(statuses: Iterable[ChannelStatus], now: datetime) -> dict[str, CircuitState]:
    """Return each configured remote channel (Slack, email) as a circuit, from the rows delivery keeps.

    A channel without a row has never failed: closed.
    """
    by_channel = {s.channel: s for s in statuses}
    return {
        c: by_channel[c].circuit_state(now) if c in by_channel else CircuitState.CLOSED for c in remote_channel_names()
    }


def _parts(now: datetime) -> models.QuerySet:
    alerts = (
        Alert.objects.open()
        .order_by()
        .values(part=_text("alert"), label=F("rule"), detail=F("severity"))
        .annotate(number=Count("pk"), at=NO_MOMENT, until=NO_MOMENT)
    )
    outbox = (
        Notification.objects.filter(state__in=BACKLOG_STATES)
        .order_by()
        .values(part=_text("outbox"), label=F("channel"), detail=F("state"))
        .annotate(number=Count("pk"), at=Min("created_at"), until=NO_MOMENT)
    )
    channels = (
        ChannelStatus.objects.filter(channel__in=remote_channel_names())
        .order_by()
        .values(
            part=_text("channel"),
            label=F("channel"),
            detail=_text(""),
            number=F("consecutive_failures"),
            at=F("broken_at"),
            until=F("paused_until"),
        )
    )
    # One row per (active window, instance it lists); a whole-fleet window says so in ``detail``.
    windows = (
        MaintenanceWindow.objects.active(now)
        .order_by()
        .values(
            part=_text("maintenance"),
            label=_text(""),
            detail=Case(When(whole_fleet=True, then=_text(WHOLE_FLEET)), default=_text("")),
            number=F("instances"),
            at=NO_MOMENT,
            until=NO_MOMENT,
        )
    )
    return alerts.union(outbox, channels, windows, all=True)


def alerting_overview(now: datetime) -> AlertingOverview:
    """Return open alerts, the outbox's backlog, the channels' circuits and maintenance now, in one query."""
    open_alerts = {(str(rule), str(severity)): 0 for rule, severity in RULE_SEVERITY.items()}
    outbox: dict[str, ChannelBacklog] = {}
    statuses: list[ChannelStatus] = []
    whole_fleet, covered = False, set()
    for row in _parts(now):
        part = row["part"]
        if part == "alert":
            open_alerts[(row["label"], row["detail"])] = row["number"]
        elif part == "outbox":
            backlog = outbox.get(row["label"], ChannelBacklog())
            if row["detail"] == NotificationState.PENDING:
                backlog = replace(backlog, pending=row["number"], oldest_pending_at=row["at"])
            else:
                backlog = replace(backlog, failed=row["number"])
            outbox[row["label"]] = backlog
        elif part == "channel":
            statuses.append(
                ChannelStatus(
                    channel=row["label"],
                    consecutive_failures=row["number"],
                    broken_at=row["at"],
                    paused_until=row["until"],
                )
            )
        elif part == "maintenance":
            whole_fleet = whole_fleet or row["detail"] == WHOLE_FLEET
            if row["number"] is not None:
                covered.add(row["number"])
    return AlertingOverview(
        open_alerts=open_alerts,
        outbox=outbox,
        channel_circuits=channel_circuits(statuses, now),
        maintenance_whole_fleet=whole_fleet,
        maintenance_instances=covered,
    )
