"""What the alert pages show: moments as people read them, the log's rows, an alert's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import overload

from alerts.choices import EventKind, NotificationState
from alerts.models import RESUMED_NOTE, Alert, AlertEvent, Notification
from julia_monitor.lib import text

# Within this window a moment reads "há 12 min"; older ones read as a date and time.
RELATIVE_WINDOW = timedelta(hours=12)
# Events written by delivery about notifications: on the timeline they follow the notifications.
DELIVERY_EVENTS = frozenset(
    {
        EventKind.NOTIFIED,
        EventKind.DELIVERY_FAILED,
        EventKind.DELIVERY_GAVE_UP,
        EventKind.REQUEUED,
        EventKind.DELIVERY_RESUMED,
    }
)


@dataclass(frozen=True)
class Moment:
    """A moment as a person reads it: "há 3 min" when recent, else "10/03 14:05"; ``full`` for a tooltip."""

    at: datetime
    label: str

    @property
    def iso(self) -> str:
        return self.at.isoformat()

    @property
    def full(self) -> str:
        return text.moment_full(self.at)


@overload
def moment(at: datetime, now: datetime) -> Moment: ...
@overload
def moment(at: datetime | None, now: datetime) -> Moment | None: ...


def moment(at: datetime | None, now: datetime) -> Moment | None:
    if at is None:
        return None
    age = now - at
    if timedelta(0) <= age < RELATIVE_WINDOW:
        return Moment(at, text.ago(at, now))
    return Moment(at, text.moment(at))


@dataclass(frozen=True)
class Row:
    alert: Alert
    first_seen: Moment
    last_seen: Moment
    acknowledged: Moment | None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the alert page's timeline: an ``AlertEvent`` or a ``Notification`` (the outbox)."""

    at: datetime
    kind: str  # the event kind, or "notification"
    label: str
    detail: str
    actor: str
    notification: Notification | None = None

    @property
    def when(self) -> str:
        return text.moment_exact(self.at)


def timeline(alert: Alert) -> list[TimelineEntry]:
    """Return the alert's events and its notifications merged in time order.

    On equal times the story order wins: the alert opens (or resolves), then its messages are
    queued (same transaction, same ``now``), then delivery reports on them.
    """
    keyed: list[tuple[tuple[datetime, int, int], TimelineEntry]] = []
    event: AlertEvent
    for event in alert.events.select_related("actor").order_by("created_at", "id"):
        entry = TimelineEntry(
            at=event.created_at,
            kind=event.kind,
            label=event.get_kind_display(),
            detail=event.detail,
            actor=event.actor.get_username() if event.actor else "",
        )
        keyed.append(((event.created_at, 2 if event.kind in DELIVERY_EVENTS else 0, event.pk), entry))
    for row in alert.notifications.select_related("window").order_by("created_at", "id"):
        entry = TimelineEntry(
            at=row.created_at,
            kind="notification",
            label=f"Notificação · {row.get_channel_display()} · {row.get_kind_display()}",
            detail=_delivery_detail(row),
            actor="",
            notification=row,
        )
        keyed.append(((row.created_at, 1, row.pk), entry))
    return [entry for _key, entry in sorted(keyed, key=lambda pair: pair[0])]


def _delivery_detail(row: Notification) -> str:
    if row.state == NotificationState.HELD and row.window is not None:
        return (
            f"retida pela manutenção '{row.window.reason}' (até {text.moment(row.window.effective_end)}): não enviada"
        )
    attempts = "1 tentativa" if row.attempts == 1 else f"{row.attempts} tentativas"
    parts = [row.get_state_display(), attempts]
    if row.sent_at:
        parts.append(f"enviada às {text.moment_exact(row.sent_at)}")
    elif row.state == NotificationState.PENDING:
        parts.append(f"próxima tentativa às {text.moment_exact(row.next_attempt_at)}")
    if row.resumed_at:
        parts.append(RESUMED_NOTE)
    return " · ".join(parts)
