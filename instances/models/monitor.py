"""The monitor's own record: its check cycles and the lease that keeps one running at a time."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class CheckCycle(models.Model):
    """One run of the check cycle; the newest finished one proves the monitor is alive."""

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
