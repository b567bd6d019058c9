"""Evaluate the alert rules, off the request and the cycle, whenever the fleet changes."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from alerts.queueing import request_evaluation
from instances.signals import cycle_finished, status_changed


def queue_evaluation(sender: Any = None, **kwargs: Any) -> None:
    """Ask for an evaluation + delivery pass by the worker, once the change is committed.

    A webhook answers at once and the worker posts within a second or two; a cycle's alerts
    leave right after it instead of waiting for the next scheduled delivery. Requests coalesce
    (``alerts.queueing``): a burst of webhooks queues one task, and one more if any arrived
    while it ran.
    """
    transaction.on_commit(request_evaluation)


def connect() -> None:
    cycle_finished.connect(queue_evaluation, dispatch_uid="alerts-after-cycle")
    status_changed.connect(queue_evaluation, dispatch_uid="alerts-after-status-webhook")
