"""django-q2 tasks: thin wrappers around the check cycle, plus their schedules.

Run-time limits are global, in ``settings.Q_CLUSTER``: ``catch_up`` off (no burst of replayed
minutes after downtime), ``timeout`` 50 s and ``retry`` 70 s (> timeout, or the ORM broker
hands a slow cycle out twice). The cycle's own lease covers what those cannot.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

SCHEDULES = {
    "check-instances": {"func": "instances.tasks.check_instances", "minutes": 1},
}


def check_instances() -> str:
    """Run one check cycle; the summary line becomes the task's result in the admin."""
    from instances.checks import run_cycle

    return str(run_cycle())


def ensure_schedules(sender: Any = None, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """Create or update the every-minute schedules (idempotent; runs after every migrate).

    ``Schedule.name`` is not unique (django-stack.md §1), so rows duplicated by an old
    ``schedule()`` call are removed first: each one would fire the task every minute.
    """
    from django_q.models import Schedule

    schedules = Schedule.objects.using(using)
    for name, spec in SCHEDULES.items():
        first = schedules.filter(name=name).order_by("pk").first()
        if first is not None:
            schedules.filter(name=name).exclude(pk=first.pk).delete()
        schedules.update_or_create(
            name=name,
            defaults={
                "func": spec["func"],
                "schedule_type": Schedule.MINUTES,
                "minutes": spec["minutes"],
                "repeats": -1,
            },
        )
