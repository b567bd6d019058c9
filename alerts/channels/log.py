"""The log channel: every alert, always, as the spec's ``[ALERTA] {titulo}: {mensagem}`` line."""

from __future__ import annotations

import logging

from alerts.channels.base import Message, Transport
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
            if item.kind == NotificationKind.RESOLVED:
                logger.info("[ALERTA RESOLVIDO] %s: %s%s", title, said, mark)
            elif item.kind == NotificationKind.REMINDER:
                logger.log(LEVELS[alert.severity], "[ALERTA] %s: %s (lembrete)%s", title, said, mark)
            else:
                logger.log(LEVELS[alert.severity], "[ALERTA] %s: %s%s", title, said, mark)
