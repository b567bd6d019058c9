"""Maintenance windows: planned work during which alerts are recorded but not posted.

A window covers some instances or the whole fleet. While it is active, the notifications of
an alert it covers are created held (``NotificationState.HELD``, pointing at the window) and
never delivered; the log channel still writes its line, marked "(em manutenção)", because the
log is the audit trail. When the window ends (at its time or ended early), each alert it held
that is still firing is posted once, as a normal new notification (``alerts.rules``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from instances.models import Instance
from julia_monitor.lib import text

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class MaintenanceWindowQuerySet(models.QuerySet["MaintenanceWindow"]):
    def active(self, at: datetime) -> MaintenanceWindowQuerySet:
        """Windows in force at ``at``: started, not over, not ended early."""
        return self.filter(starts_at__lte=at, ends_at__gt=at).filter(
            Q(cancelled_at__isnull=True) | Q(cancelled_at__gt=at)
        )

    def covering(self, instance: Instance | None) -> MaintenanceWindowQuerySet:
        """Windows that cover an alert about ``instance``; a fleet alert (None) only by a whole-fleet window."""
        if instance is None:
            return self.filter(whole_fleet=True)
        ids = self.filter(Q(whole_fleet=True) | Q(instances=instance)).values("pk")
        return self.filter(pk__in=ids)

    def ended_unreleased(self, at: datetime) -> MaintenanceWindowQuerySet:
        """Windows over at ``at`` whose held alerts were not yet looked at again."""
        return self.filter(released_at__isnull=True).filter(Q(ends_at__lte=at) | Q(cancelled_at__lte=at))

    def current_and_upcoming(self, at: datetime) -> MaintenanceWindowQuerySet:
        return self.filter(ends_at__gt=at).filter(Q(cancelled_at__isnull=True) | Q(cancelled_at__gt=at))


class MaintenanceWindow(models.Model):
    """Planned work on some instances (or the whole fleet) from ``starts_at`` to ``ends_at``."""

    starts_at = models.DateTimeField("início", default=timezone.now)
    ends_at = models.DateTimeField("fim")
    reason = models.CharField("motivo", max_length=200)
    whole_fleet = models.BooleanField("frota inteira", default=False)
    instances = models.ManyToManyField(
        Instance, blank=True, related_name="maintenance_windows", verbose_name="instâncias"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="criada por"
    )
    created_at = models.DateTimeField("criada em", default=timezone.now)
    cancelled_at = models.DateTimeField("encerrada antes em", null=True, blank=True)
    # Set once, by the evaluation that posted what the window held (a conditional UPDATE).
    released_at = models.DateTimeField("alertas liberados em", null=True, blank=True, editable=False)

    objects = MaintenanceWindowQuerySet.as_manager()

    class Meta:
        verbose_name = "janela de manutenção"
        verbose_name_plural = "janelas de manutenção"
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["ends_at"])]

    def __str__(self) -> str:
        return f"{self.reason} ({text.moment(self.starts_at)} – {text.moment(self.ends_at)})"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "O fim deve ser depois do início."})

    @property
    def effective_end(self) -> datetime:
        """When the window stops (or stopped) holding alerts: its end, or the moment it was ended early."""
        if self.cancelled_at is not None and self.cancelled_at < self.ends_at:
            return self.cancelled_at
        return self.ends_at

    def is_active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.effective_end

    @property
    def is_active_now(self) -> bool:
        return self.is_active(timezone.now())

    def until_label(self, now: datetime | None = None) -> str:
        """Return "em manutenção até 15:30" (São Paulo time; the date too when not today)."""
        return f"em manutenção até {text.clock(self.effective_end, now)}"

    def scope_label(self) -> str:
        if self.whole_fleet:
            return "frota inteira"
        return ", ".join(i.name for i in self.instances.all())

    @classmethod
    def schedule(
        cls,
        *,
        ends_at: datetime,
        reason: str,
        starts_at: datetime | None = None,
        instances: Iterable[Instance] = (),
        whole_fleet: bool = False,
        user: User | None = None,
    ) -> MaintenanceWindow:
        """Create a window after checking it (pt-BR ``ValidationError`` on bad input)."""
        instances = list(instances)
        window = cls(
            starts_at=starts_at or timezone.now(),
            ends_at=ends_at,
            reason=reason.strip(),
            whole_fleet=whole_fleet,
            created_by=user,
        )
        errors: dict[str, str] = {}
        if not window.reason:
            errors["reason"] = "Informe o motivo da manutenção."
        if window.ends_at <= window.starts_at:
            errors["ends_at"] = "O fim deve ser depois do início."
        if not whole_fleet and not instances:
            errors["instances"] = "Escolha ao menos uma instância ou a frota inteira."
        if errors:
            raise ValidationError(errors)
        with transaction.atomic():
            window.save()
            if instances and not whole_fleet:
                window.instances.set(instances)
        return window

    def end_early(self, at: datetime | None = None) -> bool:
        """End an active or upcoming window now; its held alerts are posted by the next evaluation.

        Return False when it was already over.
        """
        at = at or timezone.now()
        done = (
            MaintenanceWindow.objects.filter(pk=self.pk, cancelled_at__isnull=True, ends_at__gt=at).update(
                cancelled_at=at
            )
            == 1
        )
        self.refresh_from_db()
        return done


def active_windows_by_instance(at: datetime) -> tuple[MaintenanceWindow | None, dict[int, MaintenanceWindow]]:
    """Return the active whole-fleet window (if any) and instance pk → active window, in two queries.

    Where several windows cover an instance, the one ending last is kept: it says how long
    the instance stays in maintenance.
    """
    windows = list(MaintenanceWindow.objects.active(at).prefetch_related("instances"))
    fleet: MaintenanceWindow | None = None
    by_instance: dict[int, MaintenanceWindow] = {}
    for window in sorted(windows, key=lambda w: w.effective_end):
        if window.whole_fleet:
            fleet = window
        for instance in window.instances.all():
            by_instance[instance.pk] = window
    if fleet is not None:
        by_instance = {pk: w if w.effective_end > fleet.effective_end else fleet for pk, w in by_instance.items()}
    return fleet, by_instance
