"""The monitor's own dead-man's switch: after every check cycle, tell an outside watcher how it went.

``report`` pings ``MONITOR_HEARTBEAT_URL`` (Healthchecks or alike; docs/heartbeat.md) once per
cycle. A cycle that read the gateway is a success (``GET <url>``), whatever it found there: dead
numbers are the alerts' business. A cycle that could not read the gateway (down, or its circuit
open) or that raised is a failure (``POST <url>/fail``, its summary line as the body). A cycle
skipped because another worker holds the lease pings nothing: that other cycle reports. With
CHECK_SHARDS above 1 the minute's round reports once, when it closes: a failure if any shard
could not read the gateway or never reported. When the worker itself stops, nothing pings at
all, and the watcher raises the alarm the portal can't.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from django.conf import settings

from instances.checks import CycleSummary
from julia_monitor.lib.pings import ping

if TYPE_CHECKING:  # rounds reports here when it closes a round
    from instances.rounds import RoundSummary

# The traceback posted with a cycle that raised: its last frames, where the error is.
TRACEBACK_CHARS = 8_000


def failure_text(outcome: CycleSummary | RoundSummary | BaseException) -> str | None:
    """Return what a failed cycle posts to ``<url>/fail``, or None for a successful one."""
    if isinstance(outcome, BaseException):
        trace = "".join(traceback.format_exception(outcome))[-TRACEBACK_CHARS:]
        return f"ciclo falhou com exceção: {type(outcome).__name__}: {outcome}\n\n{trace}"
    if not outcome.gateway_ok or getattr(outcome, "missing", None):
        return str(outcome)  # "gateway indisponível: circuito aberto, …", the gateway's error, missing shards
    return None


def report(outcome: CycleSummary | RoundSummary | BaseException) -> bool | None:
    """Ping the heartbeat for one cycle's outcome; return whether it was taken, None when nothing was sent.

    Never raises and never waits past ``MONITOR_HEARTBEAT_TIMEOUT``.
    """
    url = settings.MONITOR_HEARTBEAT_URL
    if not url or (isinstance(outcome, CycleSummary) and outcome.skipped):
        return None
    return ping(url, settings.MONITOR_HEARTBEAT_TIMEOUT, failure=failure_text(outcome))
