"""Coalesce requests for an alert evaluation: at most one queued for the worker at a time.

Every status webhook and every check cycle asks for an evaluation. Each request bumps a
counter on the ``EvaluationQueue`` row; only the request that claims the free slot (a
conditional UPDATE) queues the task, so a wave of 1,000 close webhooks queues one task ahead
of the minute's check cycle instead of 1,000, and its alerts leave as one grouped post.

The task holds the slot while it runs and releases it at the end. Requests that arrived after
it noted the counter (the counter grew) get one more run; the decision compares counters,
never clocks. A task that dies without releasing the slot (worker killed, machine lost) stops
blocking new requests once the slot expires; the every-minute cycle's own request then claims it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from alerts.models import EvaluationQueue
from julia_monitor.lib import text

logger = logging.getLogger(__name__)

QUEUE_NAME = "alert-evaluation"
TASK = "alerts.tasks.evaluate_and_deliver"
# Beyond the task's run-time limit, time for a queued task to wait behind the check cycle.
QUEUE_WAIT_MARGIN_SECONDS = 60


def slot_seconds() -> int:
    """Return how long a claimed slot stays claimed: longer than a task can wait and run."""
    return int(settings.Q_CLUSTER["timeout"]) + QUEUE_WAIT_MARGIN_SECONDS


def request_evaluation() -> bool:
    """Count one request; queue the evaluation task if this request claimed the slot.

    Return whether a task was queued. The counter is bumped before the claim, so a task that
    notes the counter when it starts has seen every request that did not queue a task of its own.
    """
    rows = EvaluationQueue.objects.filter(name=QUEUE_NAME)
    if not rows.update(requests=F("requests") + 1):
        EvaluationQueue.objects.get_or_create(name=QUEUE_NAME)  # first request ever; safe if two race
        rows.update(requests=F("requests") + 1)
    now = timezone.now()
    slot = now + timedelta(seconds=slot_seconds())
    free = Q(queued_until__isnull=True) | Q(queued_until__lte=now)
    if rows.filter(free).update(queued_until=slot) != 1:
        return False
    # The slot's expiry doubles as the claim's token: the task frees the slot only if it is still its own.
    try:
        async_task(TASK, slot=slot, task_name="avaliar-alertas")
    except Exception as exc:
        # The broker (Redis, when REDIS_URL is set) is unreachable: free the slot so the next
        # request tries again, and never fail the webhook or cycle that asked.
        rows.filter(queued_until=slot).update(queued_until=None)
        logger.error("alert evaluation not queued, the task broker failed: %s", text.one_line(exc))
        return False
    return True


def requests_so_far() -> int:
    return EvaluationQueue.objects.filter(name=QUEUE_NAME).values_list("requests", flat=True).first() or 0


@contextmanager
def evaluation_slot(slot: datetime | None) -> Iterator[None]:
    """Run the body as the task that holds ``slot``; free the slot after it and re-queue once if asked meanwhile.

    ``slot`` is None when the task was not queued by a claim (run by hand, or queued before
    coalescing): then there is no slot to free, and the re-run still follows the counter.
    The slot is freed even when the body fails, so the next request is not kept waiting.
    """
    seen = requests_so_far()
    try:
        yield
    finally:
        if slot is not None:
            # An overdue task whose slot expired and was claimed again leaves the new claim alone.
            EvaluationQueue.objects.filter(name=QUEUE_NAME, queued_until=slot).update(queued_until=None)
        if requests_so_far() > seen:
            request_evaluation()
