"""Uptime: the share of a time window an instance spent connected, read from its status history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from instances.models import Status


class Transition(Protocol):
    """What uptime needs of a ``StatusChange``."""

    created_at: datetime
    old_status: str
    new_status: str


@dataclass(frozen=True)
class Uptime:
    connected: timedelta
    observed: timedelta

    @property
    def share(self) -> float | None:
        """Return the connected share in [0, 1], or None when the window is empty."""
        if self.observed <= timedelta(0):
            return None
        return self.connected / self.observed

    @property
    def pct(self) -> float | None:
        share = self.share
        return None if share is None else share * 100

    @property
    def downtime(self) -> timedelta:
        return self.observed - self.connected


def uptime(
    changes: Iterable[Transition],
    current_status: str,
    start: datetime,
    end: datetime,
    since: datetime | None = None,
) -> Uptime:
    """Return how long the instance was connected between ``start`` and ``end``.

    The status at ``start`` is the newest change at or before it; failing that, the
    ``old_status`` of the first change after it (so the history needs no row older than the
    window); failing that, nothing changed and ``current_status`` held all along. Time before
    ``since`` (the instance's creation) is not observed at all. Changes with the same
    timestamp keep the order they were given in (pass them by ``created_at, id``).
    """
    if since is not None and since > start:
        start = since
    if end <= start:
        return Uptime(timedelta(0), timedelta(0))
    ordered = sorted(changes, key=lambda change: change.created_at)
    before = [c for c in ordered if c.created_at <= start]
    after = [c for c in ordered if c.created_at > start]
    if before:
        status = before[-1].new_status
    elif after:
        status = after[0].old_status
    else:
        status = current_status

    connected = timedelta(0)
    cursor = start
    for change in after:
        if change.created_at > end:
            break
        if status == Status.CONNECTED:
            connected += change.created_at - cursor
        cursor, status = change.created_at, change.new_status
    if status == Status.CONNECTED:
        connected += end - cursor
    return Uptime(connected, end - start)
