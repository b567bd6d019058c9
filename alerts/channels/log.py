"""The log channel: every alert, always, as the spec's ``[ALERTA] {titulo}: {mensagem}`` line."""

from __future__ import annotations

import logging

from alerts.channels.base import Item, Message, Transport
from alerts.choices import Channel, NotificationKind, Severity
from julia_monitor.lib.text import one_line

logger = logging.getLogger("alerts")

LEVELS: dict[str, int] = {
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.CRITICAL: logging.CRITICAL,
}


class LogTransport(Transport):
    channel = Channel.LOG

    def is_configured(self) -> bool:
        return True

    def send(self, message: Message) -> None:
        # One line per alert even in a grouped message: the log is searched alert by alert.
        # Titles and messages quote instance names and gateway errors: escaped, so a name with
        # a newline cannot forge a second "[ALERTA]" line.
        for item in message.items:
            alert = item.alert
            title, said = one_line(alert.title), one_line(alert.message)
            # Held by a maintenance window elsewhere, still logged: the log is the audit trail.
            mark = " (em manutenção)" if item.in_maintenance else ""
            fields = alert_fields(item)
            if item.kind == NotificationKind.RESOLVED:
                logger.info("[ALERTA RESOLVIDO] %s: %s%s", title, said, mark, extra=fields)
            elif item.kind == NotificationKind.REMINDER:
                logger.log(LEVELS[alert.severity], "[ALERTA] %s: %s (lembrete)%s", title, said, mark, extra=fields)
            else:
                logger.log(LEVELS[alert.severity], "[ALERTA] %s: %s%s", title, said, mark, extra=fields)


def alert_fields(item: Item) -> dict[str, object]:
    """Return the alert's fields a JSON log line carries as keys (LOG_FORMAT=json), beside the line's text."""
    alert = item.alert
    return {
        "alert_id": alert.pk,
        "alert_key": alert.key,
        "rule": str(alert.rule),
        "severity": str(alert.severity),
        "state": str(alert.state),
        "notification": str(item.kind),
        "instance": alert.instance.name if alert.instance is not None else None,
        "title": alert.title,
        "first_seen_at": alert.first_seen_at.isoformat() if alert.first_seen_at else None,
        "occurrences": alert.occurrences,
        "in_maintenance": item.in_maintenance,
    }
