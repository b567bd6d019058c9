"""The monitor's own record: its check cycles, the sharded minutes they report to, and the cycle lease."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Max, Q
from django.utils import timezone


class CheckRound(models.Model):
    """The minute's check split into CHECK_SHARDS cycles (``instances.rounds``), closed once.

    Closing it (every shard reported, or the timeout passed) is what sends the minute's alert
    evaluation; ``missing`` lists the shards that had not reported by then.
    """

    started_at = models.DateTimeField("início", db_index=True)
    shards = models.PositiveSmallIntegerField("fatias")
    closed_at = models.DateTimeField("concluída em", null=True, blank=True)
    missing = models.JSONField("fatias que não terminaram", default=list, blank=True)

    class Meta:
        verbose_name = "rodada de verificação"
        verbose_name_plural = "rodadas de verificação"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"rodada {self.started_at:%Y-%m-%d %H:%M:%S} ({self.shards} fatias)"


class CheckCycle(models.Model):
    """One run of the check cycle; the newest finished one proves the monitor is alive.

    A whole-fleet cycle is shard 0 of 1; with CHECK_SHARDS=N each cycle covers shard k of N
    (``instances.rounds.shard_of``) and belongs to the minute's ``round``.
    """

    started_at = models.DateTimeField("início")
    finished_at = models.DateTimeField("fim", null=True, blank=True, db_index=True)
    probed = models.PositiveIntegerField("verificadas", default=0)
    online = models.PositiveIntegerField("online", default=0)
    failures = models.PositiveIntegerField("falhas", default=0)
    changes = models.PositiveIntegerField("mudanças", default=0)
    discovered = models.PositiveIntegerField("descobertas", default=0)
    gateway_ok = models.BooleanField("gateway respondeu", default=True)
    gateway_error = models.CharField("erro do gateway", max_length=300, blank=True)
    # Rows (or probe answers) the gateway sent that the portal refused, each "label: problem".
    invalid_rows = models.JSONField("dados inválidos do gateway", default=list, blank=True)
    # Instances whose result could not be written (a database error on that row alone).
    record_errors = models.PositiveIntegerField("erros ao gravar", default=0)
    # Whether the shared cache (Redis) answered; without it circuit state lives in the database.
    cache_ok = models.BooleanField("cache respondeu", default=True)
    cache_error = models.CharField("erro do cache", max_length=300, blank=True)
    shard = models.PositiveSmallIntegerField("fatia", default=0)
    shards = models.PositiveSmallIntegerField("de fatias", default=1)
    round = models.ForeignKey(
        CheckRound, verbose_name="rodada", null=True, blank=True, on_delete=models.SET_NULL, related_name="cycles"
    )

    class Meta:
        verbose_name = "ciclo de verificação"
        verbose_name_plural = "ciclos de verificação"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"ciclo {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None

    @classmethod
    def last_finished(cls, **matching: object) -> CheckCycle | None:
        """Return the newest finished cycle (of those ``matching``): the monitor's proof of life."""
        return cls.objects.filter(finished_at__isnull=False, **matching).order_by("-finished_at").first()

    @classmethod
    def shard_finishes(cls, shards: int) -> dict[int, datetime | None]:
        """Return each of ``shards`` shards' newest finish, in one query.

        A whole-fleet cycle (shard 0 of 1: the one-shard schedule, ``manage.py check_instances``)
        covers every shard; cycles of another shard count are another split of the fleet and ignored.
        """
        rows = (
            cls.objects.filter(finished_at__isnull=False)
            .filter(Q(shards=1) | Q(shards=shards))
            .order_by()
            .values_list("shards", "shard")
            .annotate(last=Max("finished_at"))
        )
        whole: datetime | None = None
        by_shard: dict[int, datetime] = {}
        for count, shard, last in rows:
            if count == 1:
                whole = last
            else:
                by_shard[shard] = last
        return {k: max(filter(None, (whole, by_shard.get(k))), default=None) for k in range(shards)}

    @classmethod
    def monitor_finished_at(cls, shards: int) -> datetime | None:
        """Return when the monitor last covered the whole fleet: the newest cycle, or with shards the
        oldest of their newest finishes (None while a shard never finished): a stale shard is a
        stale monitor.
        """
        if shards <= 1:
            last = cls.last_finished()
            return last.finished_at if last else None
        return cls.all_covered_at(cls.shard_finishes(shards))

    @staticmethod
    def all_covered_at(finishes: dict[int, datetime | None]) -> datetime | None:
        """Return the oldest of the shards' newest finishes: None while any shard never finished."""
        known = [at for at in finishes.values() if at is not None]
        return min(known) if known and len(known) == len(finishes) else None

    @staticmethod
    def is_stale(finished_at: datetime | None, now: datetime) -> bool:
        """Return True when no cycle finished within MONITOR_STALE_AFTER_SECONDS: nobody is watching."""
        return finished_at is None or (now - finished_at).total_seconds() > settings.MONITOR_STALE_AFTER_SECONDS


class MonitorLease(models.Model):
    """A named lease claimed with a conditional UPDATE, so only one cycle runs at a time."""

    name = models.CharField(max_length=50, unique=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def acquire(cls, name: str, seconds: float) -> str | None:
        """Return a holder token if the lease was free (or expired), else None."""
        now = timezone.now()
        cls.objects.get_or_create(name=name)
        token = secrets.token_hex(16)
        claimed = (
            cls.objects.filter(name=name)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now))
            .update(holder=token, expires_at=now + timedelta(seconds=seconds))
        )
        return token if claimed == 1 else None

    @classmethod
    def release(cls, name: str, token: str) -> None:
        cls.objects.filter(name=name, holder=token).update(holder="", expires_at=None)
