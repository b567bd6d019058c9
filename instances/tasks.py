"""django-q2 tasks: thin wrappers around the check cycle, plus their schedules.

With CHECK_SHARDS above 1 the every-minute task only starts the minute's round: one
``check_shard`` task per slice of the fleet, for every running qcluster to take (``instances.rounds``).

Run-time limits are global, in ``settings.Q_CLUSTER``: ``catch_up`` off (no burst of replayed
minutes after downtime), ``timeout`` 50 s and ``retry`` 70 s (> timeout, or the ORM broker
hands a slow cycle out twice). The cycle's own lease covers what those cannot.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

from instances import heartbeat, rounds
from instances.checks import run_cycle
from instances.models import prune_history as prune
from julia_monitor.lib.schedules import ScheduleSpec
from julia_monitor.lib.schedules import ensure_schedules as ensure

SCHEDULES: dict[str, ScheduleSpec] = {
    "check-instances": {"func": "instances.tasks.check_instances", "minutes": 1},
    "prune-fleet-history": {"func": "instances.tasks.prune_history", "minutes": 60},
}


def check_instances() -> str:
    """Run the minute's check cycle (or start its shards); the summary line becomes the task's result in the admin.

    A whole-fleet cycle reports to the heartbeat here; a sharded round does when it closes
    (``instances.rounds.close_round``).
    """
    if settings.CHECK_SHARDS > 1:
        started = rounds.start_round(settings.CHECK_SHARDS)
        return f"rodada iniciada: {started.shards} fatias na fila"
    try:
        summary = run_cycle()
    except Exception as exc:
        heartbeat.report(exc)
        raise
    heartbeat.report(summary)
    return str(summary)


def check_shard(round_id: int, index: int) -> str:
    """Check one slice of the fleet for its minute's round (queued by ``check_instances``)."""
    return rounds.check_shard(round_id, index)


def prune_history() -> str:
    """Drop message ids past de-duplication age and old cycle rows; counts and history stay."""
    return prune()


def ensure_schedules(sender: Any = None, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate handler: create or update this app's schedules."""
    ensure(SCHEDULES, using)
