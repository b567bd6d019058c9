"""Reconcile the conditions that hold now (``alerts.conditions``) with the open alerts.

``evaluate()`` runs after every check cycle and after status webhooks (coalesced). New
conditions open an alert and queue its notifications (the outbox); persisting ones keep their
alert current (its words rewritten, the timeline keeping the old ones); vanished ones close —
as resolved when the condition is over, as superseded when a ban replaces an outage, as
closed when the instance is deactivated; bans wait for a person. Unacknowledged alerts remind.
A newly banned number's doctors are migrated first (``alerts.migration_events``), so its alert
opens with the figures. Every write that could race another evaluation is a conditional UPDATE or guarded by the
"one open alert per key" constraint, so two evaluations at once never double-post.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.choices import (
    MANUAL_RESOLVE_RULES,
    ONCE_PER_EPISODE_RULES,
    AlertState,
    Channel,
    EventKind,
    NotificationKind,
    NotificationState,
    Resolution,
    Rule,
)
from alerts.conditions import FLEET_RULES, Condition, Fleet, detect
from alerts.maintenance import MaintenanceWindow
from alerts.migration_events import migrate_banned_doctors, note_batches
from alerts.models import Alert, AlertEvent, new_batch
from instances.models import Status

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    batch: str
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    reminded: list[Alert] = field(default_factory=list)
    released: list[Alert] = field(default_factory=list)
    persisting: int = 0

    def __str__(self) -> str:
        return (
            f"{len(self.opened)} novos, {self.persisting} persistentes, "
            f"{len(self.resolved)} resolvidos, {len(self.reminded)} lembretes, "
            f"{len(self.released)} liberados da manutenção"
        )


def open_alert(condition: Condition, now: datetime, batch: str, suppressed_by: str = "") -> Alert | None:
    """Open an alert for a new condition and queue its notifications; None if one is already open.

    ``suppressed_by`` names the alert that already tells this story (a fleet alert, the
    instance's "instável"): the new one is recorded and logged, not posted on its own.
    """
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=condition.rule,
                severity=condition.severity,
                instance=condition.instance,
                key=condition.key,
                title=condition.title,
                message=condition.message,
                suppressed=bool(suppressed_by),
                first_seen_at=now,
                last_seen_at=now,
            )
            events = [AlertEvent(alert=alert, kind=EventKind.OPENED, detail=condition.message, created_at=now)]
            if suppressed_by:
                detail = f"{suppressed_by}: registrado, não enviado individualmente."
                events.append(AlertEvent(alert=alert, kind=EventKind.SUPPRESSED, detail=detail, created_at=now))
            AlertEvent.objects.bulk_create(events)
            alert.queue_notifications(NotificationKind.FIRING, batch, now)
    except IntegrityError:
        # Another evaluation opened it a moment ago (the partial unique index said so).
        return None
    return alert


def unsuppress(alert: Alert, now: datetime, batch: str) -> bool:
    """The alert that told this story is over but this instance is still down: tell people about it now."""
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert.pk, suppressed=True, state=AlertState.FIRING).update(suppressed=False):
            return False
        alert.suppressed = False
        detail = "O alerta que reunia este terminou; a instância segue offline."
        alert.events.create(kind=EventKind.UPDATED, detail=detail)
        alert.queue_notifications(NotificationKind.FIRING, batch, now)
    return True


def remind(now: datetime, batch: str) -> list[Alert]:
    """Queue reminders for firing (unacknowledged) alerts whose severity's interval has passed."""
    reminded = []
    for severity, minutes in settings.REMINDER_MINUTES.items():
        if not minutes:
            continue
        cutoff = now - timedelta(minutes=minutes)
        due = Alert.objects.filter(state=AlertState.FIRING, severity=severity, suppressed=False).filter(
            Q(last_notified_at__lte=cutoff) | Q(last_notified_at__isnull=True, first_seen_at__lte=cutoff)
        )
        for alert in due:
            with transaction.atomic():
                # Claim the reminder: a concurrent evaluation that read the same row loses here.
                claimed = Alert.objects.filter(pk=alert.pk, last_notified_at=alert.last_notified_at).update(
                    last_notified_at=now
                )
                if not claimed:
                    continue
                alert.events.create(kind=EventKind.REMINDED, detail=f"Sem reconhecimento há {minutes} min.")
                alert.queue_notifications(NotificationKind.REMINDER, batch, now)
            reminded.append(alert)
    return reminded


def release_ended_windows(now: datetime, batch: str) -> list[Alert]:
    """Post, once, each alert an ended maintenance window held that is still firing.

    The window is claimed with a conditional UPDATE in the same transaction as the posts, so
    two evaluations at once (or a replayed one) release it once. An alert that resolved
    during the window posts nothing; one a person acknowledged is already known. What is
    posted is a new firing notification with the alert's current words; if another active
    window still covers the alert it is held again, by that window.
    """
    released = []
    for window in MaintenanceWindow.objects.ended_unreleased(now):
        with transaction.atomic():
            if not MaintenanceWindow.objects.filter(pk=window.pk, released_at__isnull=True).update(released_at=now):
                continue
            held = Alert.objects.filter(
                state=AlertState.FIRING,
                notifications__window=window,
                notifications__kind=NotificationKind.FIRING,
                notifications__state=NotificationState.HELD,
            ).distinct()
            for alert in held.select_related("instance"):
                told = (
                    alert.notifications.filter(kind=NotificationKind.FIRING)
                    .exclude(channel=Channel.LOG)
                    .exclude(state=NotificationState.HELD)
                    .exists()
                )
                if told:
                    continue
                detail = f"A manutenção '{window.reason}' terminou e o alerta segue ativo: enviado agora."
                alert.events.create(kind=EventKind.RELEASED, detail=detail, created_at=now)
                alert.queue_notifications(NotificationKind.FIRING, batch, now)
                released.append(alert)
    return released


def closed_for_episode(conditions: list[Condition], open_keys: set[str]) -> set[str]:
    """Return the keys whose current episode a person already closed (one query, only if needed).

    A ban a person resolved stays resolved while the same ban lasts: the alert would reopen
    only for a new episode (the number connected again, then banned again). A rule told once
    per episode (``ONCE_PER_EPISODE_RULES``) stays closed however it closed: the forecast
    warns once a day, not at every swing of the pace.
    """
    candidates = {c.key: c.since for c in conditions if c.since is not None and c.key not in open_keys}
    if not candidates:
        return set()
    resolved = (
        Alert.objects.filter(key__in=candidates, state=AlertState.RESOLVED)
        .filter(Q(resolution=Resolution.MANUAL) | Q(rule__in=ONCE_PER_EPISODE_RULES))
        .values_list("key", "first_seen_at")
    )
    return {key for key, first_seen_at in resolved if first_seen_at >= candidates[key]}


def refresh_words(alerts: list[tuple[Alert, Condition]], now: datetime) -> None:
    """Rewrite persisting alerts whose condition now reads differently; the timeline keeps the old words."""
    changed = [(a, c) for a, c in alerts if (a.title, a.message) != (c.title, c.message)]
    if not changed:
        return
    for alert, condition in changed:
        alert.title, alert.message = condition.title, condition.message
    with transaction.atomic():
        Alert.objects.bulk_update([a for a, _ in changed], ["title", "message"])
        AlertEvent.objects.bulk_create(
            AlertEvent(alert=a, kind=EventKind.UPDATED, detail=c.message, created_at=now) for a, c in changed
        )


def closing_resolution(alert: Alert, fleet: Fleet) -> Resolution | None:
    """Return how an open alert whose condition no longer holds is closed (None: it stays open)."""
    instance = alert.instance
    if instance is not None and not instance.is_active:
        return Resolution.DEACTIVATED
    if alert.rule == Rule.ALL_OFFLINE and not fleet.instances:
        return Resolution.DEACTIVATED
    if alert.rule in MANUAL_RESOLVE_RULES:
        return None
    if alert.rule == Rule.INSTANCE_OFFLINE and instance is not None and instance.status == Status.BANNED:
        return Resolution.SUPERSEDED
    if alert.rule == Rule.CAPACITY_FORECAST and alert.instance_id in fleet.high_load:
        return Resolution.ESCALATED
    return Resolution.CLEARED


def evaluate(now: datetime | None = None) -> Evaluation:
    """Reconcile the conditions that hold now with the open alerts (see the module docstring)."""
    now = now or timezone.now()
    result = Evaluation(batch=new_batch())
    # Before the conditions are read: a new ban's alert opens saying where its doctors went.
    migrate_banned_doctors(now)
    fleet, conditions = detect(now)
    open_alerts = {a.key: a for a in Alert.objects.open().select_related("instance")}
    fleet_down = any(c.rule in FLEET_RULES for c in conditions)
    # An instance bouncing in and out: its offline alerts are told as one "instável" alert.
    flapping = {
        c.instance.pk
        for c in conditions
        if c.rule == Rule.INSTANCE_UNSTABLE and c.instance and (c.opens or c.key in open_alerts)
    }
    closed = closed_for_episode(conditions, set(open_alerts))

    persisting: list[tuple[Alert, Condition]] = []
    holding = set()
    for condition in conditions:
        alert = open_alerts.get(condition.key)
        suppressed_by = ""
        if condition.rule == Rule.INSTANCE_OFFLINE:
            if fleet_down:
                suppressed_by = "Alerta de frota ativo"
            elif condition.instance is not None and condition.instance.pk in flapping:
                suppressed_by = "Instância instável"
        if alert is None:
            if condition.opens and condition.key not in closed:
                opened = open_alert(condition, now, result.batch, suppressed_by)
                if opened is not None:
                    result.opened.append(opened)
                    holding.add(condition.key)
            continue
        holding.add(condition.key)
        persisting.append((alert, condition))
        if alert.suppressed and not suppressed_by:
            unsuppress(alert, now, result.batch)
    if persisting:
        Alert.objects.filter(pk__in=[a.pk for a, _ in persisting]).update(
            last_seen_at=now, occurrences=F("occurrences") + 1
        )
        refresh_words(persisting, now)
    result.persisting = len(persisting)

    for key, alert in open_alerts.items():
        if key in holding:
            continue
        resolution = closing_resolution(alert, fleet)
        if resolution is not None and alert.resolve(at=now, batch=result.batch, resolution=resolution):
            result.resolved.append(alert)

    note_batches(now)
    result.reminded = remind(now, result.batch)
    result.released = release_ended_windows(now, result.batch)
    if result.opened or result.resolved or result.reminded or result.released:
        logger.info("alert evaluation: %s", result)
    return result
