"""Evaluate the alert rules, off the request and the cycle, whenever the fleet changes."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_q.tasks import async_task

from instances.signals import cycle_finished, status_changed


def queue_evaluation(sender: Any = None, **kwargs: Any) -> None:
    """Queue one evaluation + delivery pass for the worker, once the change is committed.

    A webhook answers at once and the worker posts within a second or two; a cycle's alerts
    leave right after it instead of waiting for the next scheduled delivery.
    """
    transaction.on_commit(lambda: async_task("alerts.tasks.evaluate_and_deliver", task_name="avaliar-alertas"))


def connect() -> None:
    cycle_finished.connect(queue_evaluation, dispatch_uid="alerts-after-cycle")
    status_changed.connect(queue_evaluation, dispatch_uid="alerts-after-status-webhook")
