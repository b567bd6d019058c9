"""The delivery channels: one module per channel, and the one ordered registry that finds them.

Adding a channel is adding its ``Transport`` module, a ``Channel`` choice, its place in
``TRANSPORTS`` and the rules that use it in ``RULE_CHANNELS``; delivery, the health check and the
outbox all read this registry. The log comes first: it is local, cannot be rate-limited, and is
the record of last resort.
"""

from __future__ import annotations

from alerts.channels.base import Transport
from alerts.channels.email import EmailTransport
from alerts.channels.log import LogTransport
from alerts.channels.slack import SlackTransport
from alerts.choices import Channel

TRANSPORTS: dict[str, type[Transport]] = {
    Channel.LOG: LogTransport,
    Channel.SLACK: SlackTransport,
    Channel.EMAIL: EmailTransport,
}


def get_transport(channel: str) -> Transport:
    return TRANSPORTS[channel]()


def remote_channels() -> list[Transport]:
    """Return the configured channels that leave this machine (each one a circuit in the health check)."""
    return [t for t in (cls() for cls in TRANSPORTS.values()) if t.channel != Channel.LOG and t.is_configured()]
