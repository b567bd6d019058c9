"""django-q2 tasks: thin wrappers around the check cycle, plus their schedules.

Run-time limits are global, in ``settings.Q_CLUSTER``: ``catch_up`` off (no burst of replayed
minutes after downtime), ``timeout`` 50 s and ``retry`` 70 s (> timeout, or the ORM broker
hands a slow cycle out twice). The cycle's own lease covers what those cannot.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

from instances import heartbeat
from instances.checks import run_cycle
from instances.models import prune_history as prune
from julia_monitor.lib.schedules import ScheduleSpec
from julia_monitor.lib.schedules import ensure_schedules as ensure

SCHEDULES: dict[str, ScheduleSpec] = {
    "check-instances": {"func": "instances.tasks.check_instances", "minutes": 1},
    "prune-fleet-history": {"func": "instances.tasks.prune_history", "minutes": 60},
}


def check_instances() -> str:
    """Run one check cycle and report it to the heartbeat; the summary line becomes the task's result in the admin."""
    try:
        summary = run_cycle()
    except Exception as exc:
        heartbeat.report(exc)
        raise
    heartbeat.report(summary)
    return str(summary)


def prune_history() -> str:
    """Drop message ids past de-duplication age and old cycle rows; counts and history stay."""
    return prune()


def ensure_schedules(sender: Any = None, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate handler: create or update this app's schedules."""
    ensure(SCHEDULES, using)
