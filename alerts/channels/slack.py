"""Slack channel (placeholder until engineer D lands it)."""

from __future__ import annotations

from django.conf import settings

from alerts.channels.base import Message, Transport, TransportError
from alerts.models import Channel


class SlackTransport(Transport):
    channel = Channel.SLACK

    def is_configured(self) -> bool:
        return bool(settings.SLACK_WEBHOOK_URL or settings.SLACK_BOT_TOKEN)

    def send(self, message: Message) -> None:
        raise TransportError("Slack ainda não implementado")
