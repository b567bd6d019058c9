"""django-q2 tasks: thin wrappers around alert evaluation and the delivery pass, plus their schedule.

``evaluate_and_deliver`` runs right after each check cycle and on status webhooks, so a new
alert is posted within seconds; requests coalesce, one task queued at a time
(``alerts.queueing``). The every-minute ``deliver_notifications`` schedule picks up
retries (backoff, an expired Retry-After pause, a crashed pass's expired claims).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from alerts.delivery import deliver_due
from alerts.queueing import evaluation_slot
from alerts.rules import evaluate
from julia_monitor.lib.schedules import ScheduleSpec
from julia_monitor.lib.schedules import ensure_schedules as ensure

SCHEDULES: dict[str, ScheduleSpec] = {
    "deliver-notifications": {"func": "alerts.tasks.deliver_notifications", "minutes": 1},
}


def deliver_notifications() -> str:
    """Run one delivery pass; the summary line becomes the task's result in the admin."""
    return str(deliver_due())


def evaluate_and_deliver(slot: datetime | None = None) -> str:
    """Reconcile the alert rules with the fleet, then deliver what that queued (and anything due).

    ``slot`` is the coalescing claim that queued this run; it is freed at the end.
    """
    with evaluation_slot(slot):
        evaluation = evaluate()
        return f"{evaluation}; entrega: {deliver_due()}"


def ensure_schedules(sender: Any = None, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate handler: create or update this app's schedules."""
    ensure(SCHEDULES, using)
