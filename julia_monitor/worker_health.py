"""The worker's own health: is the django-q2 cluster alive, and is its queue moving?

``/metrics`` and ``/dashboard/health`` both ask ``monitor_pulse()``, which reads the monitor's
last check cycle, the task queue and the tasks that failed in the last hour in one query, and
the cluster's heartbeat from django-q2's cache (no query).

The heartbeat: a running cluster saves its status (a signed ``Stat``) in django-q2's cache
(``Q_CLUSTER["cache"]``, the "default" cache) every half second, and lets it expire after 3
seconds. The newest one seen is remembered in that cache, so a dead cluster still says how long
ago it last beat. Only a cache the processes share (Redis, as production runs) shows the
worker's heartbeat to the web processes; the embedded demo's process-local cache cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import models
from django.db.models import Count, F, Min, Subquery, Value
from django.db.models.functions import Cast
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ, Task
from django_q.signing import BadSignature, SignedPackage

from instances.models import CheckCycle
from julia_monitor.lib.failover_cache import UNREACHABLE as REDIS_DOWN
from julia_monitor.lib.failover_cache import mark_down, redis_problem

# django-q2 saves its status every half second (GUARD_CYCLE): ten seconds without one is a
# cluster that is gone or stuck, well before the check cycle goes stale.
HEARTBEAT_FRESH_SECONDS = 10
LAST_HEARTBEAT_KEY = "julia-monitor:worker:last-heartbeat"
STOPPED = frozenset({Conf.STOPPED, Conf.STOPPING})


@dataclass(frozen=True)
class WorkerHealth:
    """The cluster's heartbeat and its queue; the queue's figures are None when the database did not answer."""

    last_heartbeat_at: datetime | None
    alive: bool
    queued: int | None = None
    oldest_queued_at: datetime | None = None
    failed_last_hour: int | None = None
    # The Redis broker's queue is a list of tasks that carry no time: its length is all it tells.
    queue_age_known: bool = True

    def heartbeat_age(self, now: datetime) -> float | None:
        return max((now - self.last_heartbeat_at).total_seconds(), 0.0) if self.last_heartbeat_at else None

    def oldest_queued_age(self, now: datetime) -> float:
        return max((now - self.oldest_queued_at).total_seconds(), 0.0) if self.oldest_queued_at else 0.0

    def details(self, now: datetime) -> dict[str, object]:
        """Return the worker as ``/dashboard/health`` says it (pt-BR keys)."""
        age = self.heartbeat_age(now)
        return {
            "ativo": self.alive,
            "ultimo_sinal_ha_segundos": round(age) if age is not None else None,
            "fila": self.queued,
            "tarefa_mais_antiga_ha_segundos": (
                round(self.oldest_queued_age(now)) if self.queued is not None and self.queue_age_known else None
            ),
            "falhas_ultima_hora": self.failed_last_hour,
        }


@dataclass(frozen=True)
class MonitorPulse:
    """The monitor's last finished check cycle (None before the first) and the worker's health."""

    cycle: CheckCycle | None
    worker: WorkerHealth


def last_heartbeat() -> datetime | None:
    """Return when a running cluster last saved its status in django-q2's cache (remembered after it expires)."""
    cache = caches[Conf.CACHE]
    keys = cache.get(Conf.Q_STAT) or []
    found = cache.get_many([*keys, LAST_HEARTBEAT_KEY])
    remembered = found.pop(LAST_HEARTBEAT_KEY, None)
    beats = []
    for pack in found.values():
        try:
            stat = SignedPackage.loads(pack)
        except BadSignature:  # another cluster's, signed with another SECRET_KEY
            continue
        if stat.status not in STOPPED:
            beats.append(stat.timestamp)
    newest = max(beats, default=None)
    if newest is not None and (remembered is None or newest > remembered):
        cache.set(LAST_HEARTBEAT_KEY, newest, timeout=None)
        return newest
    return remembered


def heartbeat_only(now: datetime) -> WorkerHealth:
    """Return the worker's health from its heartbeat alone (the database cannot be asked)."""
    beat = last_heartbeat()
    return WorkerHealth(last_heartbeat_at=beat, alive=_fresh(beat, now))


def _fresh(beat: datetime | None, now: datetime) -> bool:
    return beat is not None and (now - beat).total_seconds() <= HEARTBEAT_FRESH_SECONDS


def _text(value: str) -> Value:
    return Value(value, output_field=models.CharField())


# Typed NULLs: PostgreSQL cannot match an untyped one with a timestamp or a boolean across a UNION.
NO_MOMENT = Cast(Value(None), models.DateTimeField())
NO_FLAG = Cast(Value(None), models.BooleanField())


def _parts(now: datetime) -> models.QuerySet:
    """The last finished cycle, the queue and the last hour's failures, as rows of one shape."""
    newest = CheckCycle.objects.filter(finished_at__isnull=False).order_by("-finished_at").values("pk")[:1]
    # The cycle comes first: its columns give the union its types (a datetime read back from SQLite).
    cycle = (
        CheckCycle.objects.order_by()
        .filter(pk=Subquery(newest))
        .values(
            part=_text("cycle"), number=F("failures"), at=F("finished_at"), since=F("started_at"), ok=F("gateway_ok")
        )
    )
    # Queued and not taken: the ORM broker's own test (``lock`` moves to the future when taken).
    queue = (
        OrmQ.objects.filter(key=Conf.CLUSTER_NAME, lock__lte=now)
        .order_by()
        .values(part=_text("queue"))
        .annotate(number=Count("pk"), at=Min("lock"), since=NO_MOMENT, ok=NO_FLAG)
    )
    failed = (
        Task.objects.filter(success=False, stopped__gte=now - timedelta(hours=1))
        .order_by()
        .values(part=_text("failed"))
        .annotate(number=Count("pk"), at=NO_MOMENT, since=NO_MOMENT, ok=NO_FLAG)
    )
    return cycle.union(queue, failed, all=True)


def monitor_pulse(now: datetime) -> MonitorPulse:
    """Return the last finished cycle and the worker's health: one query, and the heartbeat from the cache."""
    cycle: CheckCycle | None = None
    queued, oldest, failed = 0, None, 0
    for row in _parts(now):
        if row["part"] == "cycle":
            cycle = CheckCycle(
                started_at=row["since"], finished_at=row["at"], failures=row["number"], gateway_ok=row["ok"]
            )
        elif row["part"] == "queue":
            queued, oldest = row["number"], row["at"]
        else:
            failed = row["number"]
    beat = last_heartbeat()
    if Conf.ORM is None:  # the Redis broker: the queue is there, not in the database
        worker = WorkerHealth(
            beat, _fresh(beat, now), queued=redis_queue_length(), failed_last_hour=failed, queue_age_known=False
        )
    else:
        worker = WorkerHealth(beat, _fresh(beat, now), queued=queued, oldest_queued_at=oldest, failed_last_hour=failed)
    return MonitorPulse(cycle=cycle, worker=worker)


def redis_queue_length() -> int | None:
    """Return the Redis broker's queue length (None while Redis is down: one timeout, then remembered)."""
    if redis_problem(settings.REDIS_URL):
        return None
    try:
        return get_broker().queue_size()
    except REDIS_DOWN as exc:
        mark_down(settings.REDIS_URL, exc, "redis")
        return None
