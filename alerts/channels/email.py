"""Email channel (placeholder until engineer D lands it)."""

from __future__ import annotations

from django.conf import settings

from alerts.channels.base import Message, Transport, TransportError
from alerts.models import Channel


class EmailTransport(Transport):
    channel = Channel.EMAIL

    def is_configured(self) -> bool:
        return bool(settings.ALERT_EMAILS)

    def send(self, message: Message) -> None:
        raise TransportError("e-mail ainda não implementado")
