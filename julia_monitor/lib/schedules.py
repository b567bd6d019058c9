"""Idempotent django-q2 schedules, created after every migrate by each app that has some."""

from __future__ import annotations

from typing import TypedDict

from django.db import DEFAULT_DB_ALIAS


class ScheduleSpec(TypedDict):
    func: str
    minutes: int


def ensure_schedules(specs: dict[str, ScheduleSpec], using: str = DEFAULT_DB_ALIAS) -> None:
    """Create or update one every-N-minutes schedule per name.

    ``Schedule.name`` is not unique (https://github.com/Koed00/django-q/issues/370), so rows
    duplicated by an old ``schedule()`` call are removed first: each one would fire the task
    every minute.
    Run-time limits are global, in ``settings.Q_CLUSTER`` (``catch_up`` off, timeout < retry).
    """
    from django_q.models import Schedule

    schedules = Schedule.objects.using(using)
    for name, spec in specs.items():
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
