"""django-q2 tasks: thin wrappers around the check cycle, plus their schedules."""

from __future__ import annotations

from typing import Any

SCHEDULES = {
    "check-instances": {"func": "instances.tasks.check_instances", "minutes": 1},
}


def check_instances() -> str:
    from instances.checks import run_cycle

    return str(run_cycle())


def ensure_schedules(sender: Any = None, **kwargs: Any) -> None:
    """Create or update the every-minute schedules (idempotent; runs after every migrate)."""
    from django_q.models import Schedule

    for name, spec in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": spec["func"],
                "schedule_type": Schedule.MINUTES,
                "minutes": spec["minutes"],
                "repeats": -1,
            },
        )
