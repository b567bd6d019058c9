"""Alert history: alerts, their append-only timeline, and the notification outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Exists, OuterRef, Q, Value, When
from django.utils import timezone

from alerts.channels import get_transport
from alerts.choices import (
    OPEN_STATES,
    RULE_CHANNELS,
    SEVERITY_EMOJI,
    AlertState,
    Channel,
    EventKind,
    NotificationKind,
    NotificationState,
    Resolution,
    Rule,
    Severity,
)
from alerts.maintenance import MaintenanceWindow
from instances.models import Instance
from julia_monitor.lib import text
from julia_monitor.lib.circuits import CircuitState

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AlertQuerySet(models.QuerySet["Alert"]):
    def open(self) -> AlertQuerySet:
        return self.filter(state__in=OPEN_STATES)

    def matching(
        self,
        estado: str | None = None,
        severidade: str | None = None,
        regra: str | None = None,
        instancia: str | None = None,
    ) -> AlertQuerySet:
        """Return the alerts that match every filter given (the log's filters and the API's, by the same names)."""
        alerts = self
        if estado:
            alerts = alerts.filter(state=estado)
        if severidade:
            alerts = alerts.filter(severity=severidade)
        if regra:
            alerts = alerts.filter(rule=regra)
        if instancia:
            alerts = alerts.filter(instance__name=instancia)
        return alerts

    def with_held(self) -> AlertQuerySet:
        """Annotate ``held``: whether a maintenance window held any of the alert's notifications."""
        held = Notification.objects.filter(alert=OuterRef("pk"), state=NotificationState.HELD)
        return self.annotate(held=Exists(held))

    def open_first(self) -> AlertQuerySet:
        """Firing, then acknowledged, then resolved; newest first within each."""
        rank = Case(
            When(state=AlertState.FIRING, then=Value(0)),
            When(state=AlertState.ACKNOWLEDGED, then=Value(1)),
            default=Value(2),
        )
        return self.alias(open_rank=rank).order_by("open_rank", "-first_seen_at", "-id")


class Alert(models.Model):
    """One occurrence of a condition, from firing to resolution; at most one open per key."""

    rule = models.CharField("regra", max_length=32, choices=Rule.choices)
    severity = models.CharField("severidade", max_length=16, choices=Severity.choices)
    # PROTECT: the alert history outlives nothing; an instance with alerts is deactivated, not deleted.
    instance = models.ForeignKey(
        Instance, models.PROTECT, null=True, blank=True, related_name="alerts", verbose_name="instância"
    )
    # rule + instance (or "frota"): the unit of deduplication.
    key = models.CharField("chave", max_length=150, editable=False)
    title = models.CharField("título", max_length=200)
    message = models.TextField("mensagem")
    state = models.CharField("estado", max_length=16, choices=AlertState.choices, default=AlertState.FIRING)
    # Inhibited by a fleet alert ("all offline" / "gateway unreachable"): recorded, not posted alone.
    suppressed = models.BooleanField("suprimido", default=False)
    first_seen_at = models.DateTimeField("primeira vez", default=timezone.now, db_index=True)
    last_seen_at = models.DateTimeField("última vez", default=timezone.now)
    occurrences = models.PositiveIntegerField("ocorrências", default=1)
    last_notified_at = models.DateTimeField("último aviso", null=True, blank=True)
    acknowledged_at = models.DateTimeField("reconhecido em", null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="reconhecido por",
    )
    resolved_at = models.DateTimeField("resolvido em", null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="resolvido por"
    )
    resolution = models.CharField("encerramento", max_length=16, choices=Resolution.choices, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        verbose_name = "alerta"
        verbose_name_plural = "alertas"
        ordering = ["-first_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(state__in=["firing", "acknowledged"]), name="one_open_alert_per_key"
            )
        ]
        indexes = [models.Index(fields=["state", "severity"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def emoji(self) -> str:
        return SEVERITY_EMOJI.get(self.severity, "")

    def acknowledge(self, user: User | None, at: datetime | None = None, note: str = "") -> bool:
        """Acknowledge a firing alert: reminders stop. Return False if it was not firing."""
        at = at or timezone.now()
        with transaction.atomic():
            done = Alert.objects.filter(pk=self.pk, state=AlertState.FIRING).update(
                state=AlertState.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=user
            )
            if done:
                self.events.create(kind=EventKind.ACKNOWLEDGED, actor=user, detail=note, created_at=at)
        self.refresh_from_db()
        return bool(done)

    def resolve(
        self,
        user: User | None = None,
        at: datetime | None = None,
        batch: str = "",
        note: str = "",
        resolution: Resolution | None = None,
    ) -> bool:
        """Close an open alert and queue its resolution message. Return False if already closed.

        ``resolution`` says why (a person, by default, when ``user`` is given; the condition
        being over otherwise). The conditional UPDATE makes a resolution happen once even when
        a webhook and a cycle see the recovery at the same moment.
        """
        at = at or timezone.now()
        resolution = resolution or (Resolution.MANUAL if user else Resolution.CLEARED)
        with transaction.atomic():
            done = Alert.objects.filter(pk=self.pk, state__in=OPEN_STATES).update(
                state=AlertState.RESOLVED, resolved_at=at, resolved_by=user, resolution=resolution
            )
            if done:
                detail = note or resolution.label
                self.events.create(kind=EventKind.RESOLVED, actor=user, detail=detail, created_at=at)
                self.queue_notifications(NotificationKind.RESOLVED, batch or new_batch(), at)
        self.refresh_from_db()
        return bool(done)

    def queue_notifications(self, kind: str, batch: str, at: datetime) -> list[Notification]:
        """Queue one notification per channel of the rule (the outbox), before anything is sent.

        Suppressed alerts (inhibited by a fleet alert) are not posted one by one: they only
        reach the log when they fire; their resolutions still go everywhere, summarised in
        the batch's grouped message. During a maintenance window that covers the alert the
        notifications are held instead (see ``holding_window``).
        """
        channels = RULE_CHANNELS[self.rule]
        if self.suppressed and kind != NotificationKind.RESOLVED:
            channels = tuple(c for c in channels if c == Channel.LOG)
        window = self.holding_window(kind, at)
        notifications = []
        for channel in channels:
            configured = get_transport(channel).is_configured()
            state, error = NotificationState.PENDING, ""
            if not configured:
                state, error = NotificationState.SUPPRESSED, "canal não configurado"
            elif window is not None and channel != Channel.LOG:
                # The log line is still written (marked "em manutenção"): it is the audit trail.
                state = NotificationState.HELD
            notifications.append(
                Notification(
                    alert=self,
                    channel=channel,
                    kind=kind,
                    batch=batch,
                    created_at=at,
                    next_attempt_at=at,
                    state=state,
                    last_error=error,
                    window=window,
                )
            )
        Notification.objects.bulk_create(notifications)
        Alert.objects.filter(pk=self.pk).update(last_notified_at=at)
        if window is not None:
            label, until = NotificationKind(kind).label.lower(), text.clock(window.effective_end, at)
            detail = f"notificação de {label} retida pela manutenção '{window.reason}' até {until}"
            self.events.create(kind=EventKind.HELD, detail=detail, created_at=at)
        return notifications

    def holding_window(self, kind: str, at: datetime) -> MaintenanceWindow | None:
        """Return the active maintenance window that holds this notification, or None to post it.

        A resolution is held only when people never heard the alert fire (its firing was held
        too); an alert posted before the window gets its resolution, or it would stay open in
        everyone's mind.
        """
        window = MaintenanceWindow.objects.active(at).covering(self.instance).order_by("-ends_at").first()
        if window is None or kind != NotificationKind.RESOLVED:
            return window
        told = (
            self.notifications.filter(kind=NotificationKind.FIRING)
            .exclude(channel=Channel.LOG)
            .exclude(state=NotificationState.HELD)
            .exists()
        )
        return None if told else window

    def events_ordered(self) -> models.QuerySet[AlertEvent]:
        return self.events.order_by("created_at", "id")


def new_batch() -> str:
    return uuid.uuid4().hex


class AlertEvent(models.Model):
    """One line of an alert's timeline; append-only."""

    alert = models.ForeignKey(Alert, models.CASCADE, related_name="events", verbose_name="alerta")
    kind = models.CharField("evento", max_length=20, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="por"
    )
    detail = models.TextField("detalhe", blank=True)
    created_at = models.DateTimeField("quando", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "evento do alerta"
        verbose_name_plural = "linha do tempo"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({text.moment_exact(self.created_at)})"


# What a resumed delivery means, said wherever it shows (the admin, the timeline).
RESUMED_NOTE = "entrega retomada após interrupção: pode ter sido enviada duas vezes"


class NotificationQuerySet(models.QuerySet["Notification"]):
    def due(self, now: datetime) -> NotificationQuerySet:
        """Pending, due now, and not claimed by a live delivery pass."""
        return self.filter(state=NotificationState.PENDING, next_attempt_at__lte=now).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        )


class Notification(models.Model):
    """The outbox: one message about one alert event for one channel, kept forever."""

    alert = models.ForeignKey(Alert, models.CASCADE, related_name="notifications", verbose_name="alerta")
    channel = models.CharField("canal", max_length=16, choices=Channel.choices)
    kind = models.CharField("tipo", max_length=16, choices=NotificationKind.choices)
    # Notifications decided in the same evaluation share a batch: one grouped message per channel.
    batch = models.CharField("lote", max_length=32, db_index=True)
    state = models.CharField(
        "estado", max_length=16, choices=NotificationState.choices, default=NotificationState.PENDING
    )
    attempts = models.PositiveIntegerField("tentativas", default=0)
    next_attempt_at = models.DateTimeField("próxima tentativa", default=timezone.now)
    claimed_until = models.DateTimeField("reservada até", null=True, blank=True)
    claimed_by = models.CharField("reservada por", max_length=64, blank=True)
    last_error = models.TextField("último erro", blank=True)
    sent_at = models.DateTimeField("enviada em", null=True, blank=True)
    created_at = models.DateTimeField("criada em", default=timezone.now)
    # The maintenance window that held this notification (or, on the log channel, marked it).
    # PROTECT: a window is history, and deleting one would leave what it held never released.
    window = models.ForeignKey(
        MaintenanceWindow,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name="janela de manutenção",
    )
    resumed_at = models.DateTimeField(
        "retomada após interrupção em",
        null=True,
        blank=True,
        help_text=RESUMED_NOTE,
    )
    # Where the message went, when the channel says (Slack's ``chat.postMessage``: channel id and
    # ``ts``): what ``chat.update`` needs to rewrite the post once someone acts on it.
    posted_channel = models.CharField("postada no canal", max_length=100, blank=True, editable=False)
    posted_ts = models.CharField("id da mensagem postada", max_length=50, blank=True, editable=False)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = "notificação"
        verbose_name_plural = "notificações"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "channel", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} · {self.get_kind_display()} · {self.alert_id}"


class ChannelStatus(models.Model):
    """Health of one delivery channel as delivery saw it; a permanent error marks it broken."""

    channel = models.CharField("canal", max_length=16, choices=Channel.choices, unique=True)
    broken_at = models.DateTimeField("quebrado desde", null=True, blank=True)
    broken_reason = models.TextField("motivo", blank=True)
    # Hash of the configuration the channel broke with: a changed configuration re-enables it.
    broken_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    paused_until = models.DateTimeField("pausado até (limite de taxa)", null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField("falhas seguidas", default=0)
    last_success_at = models.DateTimeField("último envio", null=True, blank=True)
    last_error = models.TextField("último erro", blank=True)
    last_sent_at = models.DateTimeField("último envio tentado", null=True, blank=True)

    class Meta:
        verbose_name = "estado do canal"
        verbose_name_plural = "estado dos canais"
        ordering = ["channel"]

    def __str__(self) -> str:
        return self.get_channel_display()

    @property
    def is_broken(self) -> bool:
        return self.broken_at is not None

    @classmethod
    def for_channel(cls, channel: str) -> ChannelStatus:
        status, _ = cls.objects.get_or_create(channel=channel)
        return status

    def is_paused(self, now: datetime) -> bool:
        return self.paused_until is not None and self.paused_until > now

    def circuit_state(self, now: datetime) -> CircuitState:
        """The channel as a circuit for /dashboard/health: open when broken or failing in a row."""
        if self.is_broken or self.consecutive_failures >= settings.CIRCUIT_FAILURE_THRESHOLD:
            return CircuitState.OPEN
        if self.is_paused(now):
            return CircuitState.HALF_OPEN  # rate-limited: delivering again after Retry-After
        return CircuitState.CLOSED


class EvaluationQueue(models.Model):
    """At most one alert evaluation queued for the worker, however many changes ask for one.

    A burst of status webhooks asks many times; the first request claims the slot and queues
    the task, the others only bump ``requests``. The task re-queues itself once at the end if
    requests arrived while it ran, so nothing a request saw is left unevaluated.
    """

    name = models.CharField(max_length=50, unique=True)
    requests = models.PositiveBigIntegerField(default=0)
    queued_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class SlackIdentity(models.Model):
    """Who a portal user is on Slack, so a button pressed there acts as that person.

    Set by an administrator, or found once by the user's e-mail (``users.info``) and kept.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="slack_identity", verbose_name="usuário"
    )
    slack_user_id = models.CharField(
        "ID do usuário no Slack",
        max_length=32,
        unique=True,
        help_text="Como U012AB3CD: no Slack, perfil → ⋮ → Copiar ID do membro.",
    )
    found_by_email = models.BooleanField("encontrado pelo e-mail", default=False, editable=False)

    class Meta:
        verbose_name = "identidade no Slack"
        verbose_name_plural = "identidades no Slack"

    def __str__(self) -> str:
        return self.slack_user_id
