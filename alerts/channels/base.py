"""The small interface every delivery channel implements, and the registry that finds them.

Adding a channel is adding a module with one ``Transport`` subclass and registering it in
``alerts.channels.TRANSPORTS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from alerts.choices import Channel, NotificationKind, Rule

if TYPE_CHECKING:
    from alerts.models import Alert  # the channels read alerts; they never import the models


class TransportError(Exception):
    """A delivery failed. ``permanent`` errors (bad token, unknown channel, 404) break the
    channel until an operator fixes it; others are retried with backoff, after
    ``retry_after`` seconds when the service said so (Slack's 429 ``Retry-After``)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Item:
    """One alert in a message, with what is being said about it."""

    alert: Alert
    kind: NotificationKind
    # Written during a maintenance window that covers the alert (only the log channel sends these).
    in_maintenance: bool = False


@dataclass(frozen=True)
class Message:
    """What one delivery sends on one channel: one alert, or a group born in the same batch."""

    items: list[Item]
    created_at: datetime
    # Fleet context for the reader: "12 de 300 instâncias online".
    context: dict[str, int] = field(default_factory=dict)

    @property
    def urgent(self) -> bool:
        """Whether the message must wake the whole channel: a dead fleet, told once (not its reminders)."""
        return any(i.alert.rule == Rule.ALL_OFFLINE and i.kind == NotificationKind.FIRING for i in self.items)


@dataclass(frozen=True)
class Receipt:
    """Where a sent message landed, when the channel tells (Slack's channel id and ``ts``)."""

    channel: str
    ts: str


class Transport:
    channel: Channel

    def is_configured(self) -> bool:
        """Return False when the operator chose not to use this channel (no URL, no recipients)."""
        raise NotImplementedError

    def config_fingerprint(self) -> str:
        """Return a value that changes when the channel's configuration changes (unbreaks it)."""
        return ""

    def send(self, message: Message) -> Receipt | None:
        """Deliver the message or raise ``TransportError``; return where it landed, if known."""
        raise NotImplementedError
