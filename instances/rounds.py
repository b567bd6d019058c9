"""The minute's check split into CHECK_SHARDS tasks, and the one moment the minute is complete.

The every-minute schedule (one row in the database, so several schedulers never enqueue the
same minute twice) runs ``start_round``: it records a ``CheckRound`` and queues one
``instances.tasks.check_shard`` task per shard; whichever qclusters are running take them from
the broker. Each shard lists the fleet on the gateway but registers, syncs and probes only the
names in its slice, so no shard is special: discovery of a name happens once (in its shard),
and a dead shard costs only its own slice.

Each shard records its own ``CheckCycle`` and then reports; the report that finds every shard
in closes the round. A round some shard never reported to is closed by the next minute's
``start_round`` once it is ``round_timeout()`` old (no shard task can still be running by
then: the worker's own timeout has killed it). Closing is a conditional UPDATE, so exactly one
caller closes a round, and that caller calls ``instances.checks.complete_minute``: one alert
evaluation per minute, whatever the number of shards. The instances of a missing shard keep
their last status, as after any missed reading, until STATUS_STALE_AFTER_SECONDS shows them
as unknown (never offline).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_q.tasks import async_task

from instances import heartbeat
from instances.checks import complete_minute, run_cycle
from instances.models import CheckCycle, CheckRound
from instances.shards import Shard
from julia_monitor.lib.text import plural

logger = logging.getLogger("instances.checks")

SHARD_TASK = "instances.tasks.check_shard"


def round_timeout() -> timedelta:
    """Return how long a round waits for its shards: the worker's run-time limit, after which none can still run."""
    return timedelta(seconds=int(settings.Q_CLUSTER["timeout"]))


@dataclass
class RoundSummary:
    """What a closed round covered: its shards' cycles, and the shards that never reported."""

    round: CheckRound
    cycles: list[CheckCycle] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    @property
    def probed(self) -> int:
        return sum(c.probed for c in self.cycles)

    @property
    def failures(self) -> int:
        return sum(c.failures for c in self.cycles)

    @property
    def changes(self) -> int:
        return sum(c.changes for c in self.cycles)

    @property
    def gateway_ok(self) -> bool:
        return all(c.gateway_ok for c in self.cycles)

    @property
    def seconds(self) -> float:
        """Return the wall time from the first shard's start to the last one's finish."""
        if not self.cycles:
            return 0.0
        last = max(c.finished_at or c.started_at for c in self.cycles)
        return (last - min(c.started_at for c in self.cycles)).total_seconds()

    def __str__(self) -> str:
        done = f"{len(self.cycles)}/{self.round.shards} fatias"
        missing = f" (sem resposta: {', '.join(str(k) for k in self.missing)})" if self.missing else ""
        return (
            f"rodada de {done}{missing}: {plural(self.probed, 'verificada', 'verificadas')}, "
            f"{plural(self.failures, 'falha', 'falhas')}, {plural(self.changes, 'mudança', 'mudanças')} "
            f"em {self.seconds:.1f}s"
        )


def start_round(shards: int, now: datetime | None = None) -> CheckRound:
    """Close overdue rounds, then record this minute's round and queue one task per shard."""
    now = now or timezone.now()
    close_overdue_rounds(now)
    current = CheckRound.objects.create(started_at=now, shards=shards)
    for index in range(shards):
        async_task(SHARD_TASK, current.pk, index, task_name=f"verificar-fatia-{index}-de-{shards}")
    return current


def check_shard(round_id: int, index: int) -> str:
    """Run shard ``index`` of its round's cycle, then report it (which may close the round)."""
    current = CheckRound.objects.filter(pk=round_id).first()
    if current is None:
        return "rodada não encontrada (removida)"
    summary = run_cycle(shard=Shard(index, current.shards, current.pk))
    if not summary.skipped:
        report_shard(current)
    return str(summary)


def reported_shards(current: CheckRound) -> set[int]:
    return set(CheckCycle.objects.filter(round=current).values_list("shard", flat=True))


def report_shard(current: CheckRound) -> bool:
    """Close the round if every shard has recorded its cycle; return whether this call closed it.

    Each shard's cycle row is committed before it counts, so the last of two shards finishing
    together always sees both: a round is never left open with every shard in.
    """
    if len(reported_shards(current)) < current.shards:
        return False
    return close_round(current, timezone.now())


def close_overdue_rounds(now: datetime) -> int:
    """Close every open round older than ``round_timeout()``; return how many this call closed."""
    overdue = CheckRound.objects.filter(closed_at__isnull=True, started_at__lte=now - round_timeout())
    return sum(close_round(current, now) for current in overdue.order_by("started_at"))


def close_round(current: CheckRound, now: datetime) -> bool:
    """Close the round once (a conditional UPDATE); the caller that closes it completes the minute."""
    cycles = list(CheckCycle.objects.filter(round=current).order_by("shard"))
    missing = sorted(set(range(current.shards)) - {c.shard for c in cycles})
    if CheckRound.objects.filter(pk=current.pk, closed_at__isnull=True).update(closed_at=now, missing=missing) != 1:
        return False
    current.closed_at, current.missing = now, missing
    summary = RoundSummary(current, cycles, missing)
    if missing:
        logger.warning(
            "check round of %s: shards %s did not report within %s s; their instances keep their last status",
            current.started_at.isoformat(),
            ", ".join(str(k) for k in missing),
            int(round_timeout().total_seconds()),
        )
    logger.info("check round: %s", summary)
    complete_minute(summary)
    heartbeat.report(summary)
    return True
