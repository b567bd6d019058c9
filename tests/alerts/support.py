"""What the alert tests import by name.

For the delivery engine: a recording transport, and short ways to queue, deliver, read back.
For the alert pages: an offline alert, and reading one row of the log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.utils import timezone

import alerts.delivery
from alerts.channels.base import Message, Transport
from alerts.choices import Channel, EventKind, NotificationKind, Rule, Severity
from alerts.delivery import deliver_due
from alerts.models import Alert, AlertEvent, Notification

# --- The delivery engine --------------------------------------------------------------------------

T0 = datetime(2025, 3, 10, 17, 0, tzinfo=UTC)  # 14:00 in São Paulo


class Recorder(Transport):
    """Our own transport interface, recording what it is asked to send; fails as scripted."""

    def __init__(self, channel: str = Channel.SLACK, errors: list[BaseException | None] | None = None) -> None:
        self.channel = Channel(channel)
        self.errors = list(errors or [])
        self.configured = True
        self.fingerprint = "config-1"
        self.calls: list[Message] = []
        self.sent: list[Message] = []

    def is_configured(self) -> bool:
        return self.configured

    def config_fingerprint(self) -> str:
        return self.fingerprint

    def send(self, message: Message) -> None:
        self.calls.append(message)
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        self.sent.append(message)


def no_sleep(seconds: float) -> None:
    pass


def queue(alert, channel=Channel.SLACK, kind=NotificationKind.FIRING, batch="b1", **fields) -> Notification:
    at = fields.pop("at", None) or timezone.now()
    return Notification.objects.create(
        alert=alert, channel=channel, kind=kind, batch=batch, created_at=at, next_attempt_at=at, **fields
    )


def deliver(slack: Recorder | None = None, **kwargs) -> alerts.delivery.DeliveryReport:
    kwargs.setdefault("sleep", no_sleep)
    return deliver_due(transports={Channel.SLACK: slack} if slack else {}, **kwargs)


def state(row: Notification) -> Notification:
    row.refresh_from_db()
    return row


def details(alert, kind: EventKind) -> list[str]:
    return list(AlertEvent.objects.filter(alert=alert, kind=kind).values_list("detail", flat=True))


# --- The alert pages ------------------------------------------------------------------------------


def offline(make_alert, name: str, **fields) -> Alert:
    fields.setdefault("title", f"Instância {name} offline")
    return make_alert(name, rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, **fields)


def row_of(page, alert: Alert) -> str:
    html = page.content.decode()
    match = re.search(rf'<tr class="alert-row[^"]*" data-alert="{alert.pk}".*?</tr>', html, re.S)
    assert match, f"alert {alert.pk} is not on the page"
    return match.group(0)
