"""The words every channel uses to tell people about alerts (pt-BR), in one place.

Slack and email differ only in markup: both take the same headline, summary, per-alert
lines, durations and links from here, so a wording change is made once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from alerts.channels.base import Item, Message
from alerts.choices import (
    KIND_ORDER,
    SEVERITY_EMOJI,
    SEVERITY_ORDER,
    NotificationKind,
    Resolution,
    Severity,
    reading_order,
)
from julia_monitor.lib import text

if TYPE_CHECKING:
    from alerts.models import Alert  # the channels read alerts; they never import the models

# A grouped message lists this many alerts, then "+N outros": a storm stays one readable post.
MAX_ITEMS = 15

RESOLVED_EMOJI = "✅"
REMINDER_EMOJI = "🔁"


# How a closing is told, by how the alert was closed: emoji, lead word, why (beside the duration).
CLOSINGS: dict[str, tuple[str, str, str]] = {
    Resolution.CLEARED: (RESOLVED_EMOJI, "Resolvido", ""),
    Resolution.MANUAL: (RESOLVED_EMOJI, "Resolvido", ""),
    Resolution.SUPERSEDED: ("⛔", "Substituído", "a instância foi banida; segue no alerta de banimento"),
    Resolution.DEACTIVATED: ("⏹️", "Encerrado", "a instância foi desativada"),
    Resolution.ESCALATED: (
        "📈",
        "Substituído",
        "a carga passou do limite de alerta; segue no alerta de capacidade alta",
    ),
}


@dataclass(frozen=True)
class ItemView:
    """One alert as the reader sees it, already worded; channels only add markup."""

    kind: str
    emoji: str
    headline: str  # "🚨 Instância zap-01 BANIDA", "✅ Resolvido: … (durou 12 min)"
    lead: str  # "" for a new alert; "Resolvido", "Resolvido por ana", "Substituído", "Lembrete"…
    tail: str  # what the lead needs said beside the title: "durou 12 min", "sem reconhecimento há 1 h"
    title: str
    reason: str
    instance: str
    since: str
    duration: str
    url: str


def duration(alert: Alert, now: datetime | None = None) -> str:
    """Return how long the alert lasted (resolved) or has lasted so far (open)."""
    end = alert.resolved_at or now or timezone.now()
    return text.duration(end - alert.first_seen_at)


def alert_url(alert: Alert) -> str:
    """Return the alert's page in the portal: its timeline and, for operators, the action buttons.

    A literal path, not ``reverse()``: delivery must not depend on loading every page's URLconf
    (tests/alerts/test_pages_alerts.py checks that these links open the pages).
    """
    return f"{settings.SITE_URL}/alertas/{alert.pk}/"


def alerts_url() -> str:
    """Return the alert log; unlike the admin it opens for every logged-in person, viewers included."""
    return f"{settings.SITE_URL}/alertas/"


def wording(item: Item, now: datetime | None = None) -> tuple[str, str, str]:
    """Return (emoji, lead, tail) of an item: a new alert has no lead; a closing says how it closed."""
    alert = item.alert
    if item.kind == NotificationKind.RESOLVED:
        emoji, lead, why = CLOSINGS.get(alert.resolution, CLOSINGS[Resolution.CLEARED])
        if alert.resolution == Resolution.MANUAL and alert.resolved_by is not None:
            lead = f"Resolvido por {alert.resolved_by.get_username()}"
        lasted = f"durou {duration(alert, now)}"
        return emoji, lead, f"{why}; {lasted}" if why else lasted
    if item.kind == NotificationKind.REMINDER:
        return REMINDER_EMOJI, "Lembrete", f"sem reconhecimento há {duration(alert, now)}"
    return alert.emoji, "", ""


def describe(item: Item, now: datetime | None = None) -> str:
    """Return the one-line headline of an item: what happened, to what, and for how long."""
    emoji, lead, tail = wording(item, now)
    if not lead:
        return f"{emoji} {item.alert.title}"
    return f"{emoji} {lead}: {item.alert.title} ({tail})"


def view(item: Item, now: datetime | None = None) -> ItemView:
    alert = item.alert
    emoji, lead, tail = wording(item, now)
    return ItemView(
        kind=item.kind,
        emoji=emoji,
        headline=describe(item, now),
        lead=lead,
        tail=tail,
        title=alert.title,
        reason=alert.message,
        # Fleet alerts (all offline, gateway) have no instance: they are about the whole fleet.
        instance=alert.instance.name if alert.instance is not None else "frota",
        since=text.moment(alert.first_seen_at),
        duration=duration(alert, now),
        url=alert_url(alert),
    )


def ordered(message: Message) -> list[Item]:
    """Return the items worst first: new alerts by severity, then reminders, then resolutions."""
    return sorted(
        message.items,
        key=lambda i: reading_order(i.kind, i.alert.severity),
    )


def views(message: Message) -> tuple[list[ItemView], int]:
    """Return the views to list (at most ``MAX_ITEMS``) and how many were left out."""
    items = ordered(message)
    shown = [view(i, message.created_at) for i in items[:MAX_ITEMS]]
    return shown, len(items) - len(shown)


def _counts(message: Message) -> dict[str, int]:
    counts = dict.fromkeys(KIND_ORDER, 0)
    for item in message.items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return counts


def _worst_emoji(message: Message) -> str:
    firing = [i.alert.severity for i in message.items if i.kind == NotificationKind.FIRING]
    worst = min(firing, key=lambda s: SEVERITY_ORDER.get(s, 9), default=Severity.WARNING)
    return SEVERITY_EMOJI.get(worst, "")


def summary_parts(message: Message) -> list[str]:
    """Return the counts of a grouped message without emoji: ["2 novos", "1 resolvido"]."""
    counts = _counts(message)
    parts = []
    if n := counts[NotificationKind.FIRING]:
        parts.append(f"{n} novo" if n == 1 else f"{n} novos")
    if n := counts[NotificationKind.REMINDER]:
        parts.append(f"{n} lembrete" if n == 1 else f"{n} lembretes")
    if n := counts[NotificationKind.RESOLVED]:
        parts.append(f"{n} resolvido" if n == 1 else f"{n} resolvidos")
    return parts


def summary(message: Message) -> str:
    """Return the header of a grouped message: "🚨 5 alertas novos · 🔁 1 lembrete · ✅ 2 resolvidos"."""
    counts = _counts(message)
    parts = []
    if n := counts[NotificationKind.FIRING]:
        parts.append(
            f"{_worst_emoji(message)} {n} alerta novo" if n == 1 else f"{_worst_emoji(message)} {n} alertas novos"
        )
    if n := counts[NotificationKind.REMINDER]:
        parts.append(f"{REMINDER_EMOJI} {n} lembrete" if n == 1 else f"{REMINDER_EMOJI} {n} lembretes")
    if n := counts[NotificationKind.RESOLVED]:
        parts.append(f"{RESOLVED_EMOJI} {n} resolvido" if n == 1 else f"{RESOLVED_EMOJI} {n} resolvidos")
    return " · ".join(parts)


def headline(message: Message) -> str:
    """Return the first line of a message: the item itself when alone, else the summary."""
    if len(message.items) == 1:
        return describe(message.items[0], message.created_at)
    return summary(message)


def more_line(left_out: int) -> str:
    return f"+{left_out} outros" if left_out != 1 else "+1 outro"


def fleet_line(message: Message) -> str:
    """Return the fleet context ("12 de 300 instâncias online"), or "" when delivery gave none."""
    online, total = message.context.get("online"), message.context.get("total")
    if online is None or total is None:
        return ""
    return f"{online} de {total} instâncias online"
