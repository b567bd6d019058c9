"""The fleet: instances, their status history and the operators' actions on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from instances.models.usage import (
    ADD_TO_BUCKET,
    RECORD_MESSAGE_ID,
    RECORD_SENT_POSTGRESQL,
    TOUCH_LAST_MESSAGE,
    UsageBucket,
)
from instances.signals import status_changed

if TYPE_CHECKING:
    from instances.gateway.states import Observation


class Status(models.TextChoices):
    CONNECTED = "connected", "Conectada"
    CONNECTING = "connecting", "Conectando"
    DISCONNECTED = "disconnected", "Desconectada"
    BANNED = "banned", "Banida"
    UNKNOWN = "unknown", "Desconhecida"


STATUS_EMOJI: dict[str, str] = {
    Status.CONNECTED: "🟢",
    Status.DISCONNECTED: "🔴",
    Status.BANNED: "⛔",
    Status.CONNECTING: "🟡",
}


def status_emoji(status: str) -> str:
    return STATUS_EMOJI.get(status, "❓")


# How far the gateway's clock may be off the portal's before a close it dates is called old.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=2)
# ``last_message_at`` may lag the newest message by up to this much (see ``record_sent``).
LAST_MESSAGE_RESOLUTION = timedelta(minutes=1)


def hour_start(at: datetime) -> datetime:
    """Return the start of the local (São Paulo) clock hour that contains ``at``."""
    return timezone.localtime(at).replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime) -> datetime:
    """Return local midnight of the day that contains ``at``."""
    return timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)


def is_fresh(last_read_at: datetime | None, now: datetime) -> bool:
    """Return True if a reading taken at ``last_read_at`` still describes the instance at ``now``."""
    if last_read_at is None:
        return False
    return (now - last_read_at).total_seconds() <= settings.STATUS_STALE_AFTER_SECONDS


def shown_status(status: str, last_read_at: datetime | None, now: datetime) -> str:
    """Return ``status``, or ``unknown`` when the reading behind it is stale (never counted online)."""
    return status if is_fresh(last_read_at, now) else Status.UNKNOWN


def settled_status(current: str, seen: str) -> str:
    """Return the status an observation leaves: a plain close after a ban is still the ban.

    Only being seen connecting or connected again lifts a ban.
    """
    return Status.BANNED if current == Status.BANNED and seen == Status.DISCONNECTED else seen


def load_percent(hour_used: int, hour_capacity: int, day_used: int, day_capacity: int) -> float:
    """Return the load of the limit that binds first, in percent."""
    return max(hour_used / max(hour_capacity, 1), day_used / max(day_capacity, 1)) * 100


class InstanceQuerySet(models.QuerySet["Instance"]):
    def active(self) -> InstanceQuerySet:
        return self.filter(is_active=True)

    def online(self, now: datetime) -> InstanceQuerySet:
        """Connected by a reading that is still fresh (``is_fresh``, as a filter)."""
        read_since = now - timedelta(seconds=settings.STATUS_STALE_AFTER_SECONDS)
        return self.filter(status=Status.CONNECTED, last_read_at__gte=read_since)

    def with_usage(self, now: datetime | None = None) -> InstanceQuerySet:
        """Annotate ``msgs_hour``, ``msgs_day`` (local clock hour and day) and ``first_hour_today``.

        ``first_hour_today`` is the start of today's first hour with messages (None before the
        first one): the daily pace of the capacity forecast is measured from it.

        Correlated subqueries on the (instance, hour) index, not a join, so the cost does
        not grow with the months of usage history behind each instance.
        """
        now = now or timezone.now()
        this_hour, today = hour_start(now), day_start(now)
        buckets = UsageBucket.objects.filter(instance=OuterRef("pk"))
        buckets_today = buckets.filter(hour__gte=today, hour__lte=this_hour)
        day_total = buckets_today.order_by().values("instance").annotate(total=Sum("count")).values("total")
        # django-stubs calls any name declared on the model a clash (no-redef); Django refuses only
        # real fields, and the three names on ``Instance`` are declared for the type checker alone.
        return self.annotate(  # type: ignore[no-redef]
            msgs_hour=Coalesce(Subquery(buckets.filter(hour=this_hour).values("count")[:1]), 0),
            msgs_day=Coalesce(Subquery(day_total[:1]), 0),
            first_hour_today=Subquery(buckets_today.order_by("hour").values("hour")[:1]),
        )

    def for_dashboard(self, now: datetime | None = None) -> InstanceQuerySet:
        return self.active().with_usage(now).order_by("name")


class Instance(models.Model):
    name = models.CharField("nome", max_length=100, unique=True)
    phone_number = models.CharField("número", max_length=32, blank=True)
    status = models.CharField("status", max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    capacity_per_hour = models.PositiveIntegerField("capacidade por hora")
    capacity_per_day = models.PositiveIntegerField("capacidade por dia")
    is_active = models.BooleanField("ativa", default=True, help_text="Instâncias inativas não são verificadas.")
    status_since = models.DateTimeField("status desde", default=timezone.now)
    last_seen_connected_at = models.DateTimeField("vista conectada em", null=True, blank=True)
    last_checked_at = models.DateTimeField("última verificação", null=True, blank=True)
    # When the gateway last told us this instance's state (a probe answered, a status webhook
    # arrived). Older than STATUS_STALE_AFTER_SECONDS, the status is shown as unknown.
    last_read_at = models.DateTimeField("última leitura", null=True, blank=True)
    status_reason = models.CharField("motivo do status", max_length=300, blank=True)
    # The outage clock: when the instance last left ``connected``; empty while connected. Moves
    # between not-connected states (a reconnect attempt) neither reset nor end it.
    down_since = models.DateTimeField("fora do ar desde", null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField("falhas seguidas", default=0)
    last_error = models.CharField("último erro", max_length=300, blank=True)
    disconnection_code = models.PositiveIntegerField("código de desconexão", null=True, blank=True)
    disconnection_reason = models.CharField("motivo da desconexão", max_length=300, blank=True)
    disconnection_at = models.DateTimeField("desconectada em (gateway)", null=True, blank=True)
    # When the portal first saw this (code, disconnection_at) pair, on the portal's own clock:
    # freshness is judged against ``last_seen_connected_at``, never against the gateway's clock.
    disconnection_seen_at = models.DateTimeField("código visto em", null=True, blank=True)
    last_message_at = models.DateTimeField("última mensagem", null=True, blank=True)
    created_at = models.DateTimeField("criada em", auto_now_add=True)

    objects = InstanceQuerySet.as_manager()

    # Declared for the type checker only, no column and no value: set on rows read through
    # ``with_usage()``; anywhere else they are missing (AttributeError), as before.
    msgs_hour: int
    msgs_day: int
    first_hour_today: datetime | None

    class Meta:
        verbose_name = "instância"
        verbose_name_plural = "instâncias"
        ordering = ["name"]
        permissions = [
            ("reconnect_instance", "Pode pedir a reconexão (QR code) de uma instância"),
            ("report_usage", "Pode registrar mensagens enviadas pela API"),
            ("migrate_doctors", "Pode migrar os médicos de uma instância e desfazer uma migração"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def emoji(self) -> str:
        return status_emoji(self.status)

    @property
    def load_pct(self) -> float:
        """The binding limit's load; needs the ``msgs_hour``/``msgs_day`` of ``with_usage()``."""
        return load_percent(self.msgs_hour, self.capacity_per_hour, self.msgs_day, self.capacity_per_day)

    def shown_status(self, now: datetime | None = None) -> str:
        """Return the status as people should see it: ``unknown`` once the last reading is stale."""
        return shown_status(self.status, self.last_read_at, now or timezone.now())

    @property
    def outage_started_at(self) -> datetime | None:
        """Return when the current outage began (None while connected)."""
        if self.status == Status.CONNECTED:
            return None
        return self.down_since or self.status_since

    def has_fresh_disconnection(self) -> bool:
        """Return True if the stored disconnection code belongs to the current outage.

        Evolution never clears ``disconnectionReasonCode``, so a code is only news if the portal
        first saw it after it last saw the number connected. Both instants are the portal's
        own clock: a gateway whose clock is off cannot make a ban look old, or an old ban new.
        """
        if self.disconnection_code is None or self.disconnection_seen_at is None:
            return False
        return self.last_seen_connected_at is None or self.disconnection_seen_at > self.last_seen_connected_at

    def observe(self, seen: Observation, at: datetime | None = None) -> StatusChange | None:
        """Record a status seen outside the check cycle (a webhook, a live probe) and tell the alert rules.

        The cycle records through ``record_status`` and tells the rules once, when it ends.
        """
        change = self.record_status(seen.status, seen.reason, at, code=seen.code, code_at=seen.code_at)
        if change is not None:
            status_changed.send(sender=Instance, instance=self, change=change)
        return change

    def record_status(
        self,
        status: str,
        reason: str = "",
        at: datetime | None = None,
        code: int | None = None,
        code_at: datetime | None = None,
        read: bool = True,
    ) -> StatusChange | None:
        """Record one observation of the instance's status; return the change if it changed.

        Used by the poller and by status webhooks alike. The row is locked so that a webhook
        and a check cycle observing the same change record it once. An observation older
        than the current status is ignored (webhooks and probes can arrive out of order), and
        a ban is only lifted by the instance being seen connecting or connected again: a
        plain "close" after a ban is still the ban.

        ``code`` is a disconnection code reported live (a webhook) with the gateway's own
        ``code_at`` if it gave one: news unless it is the very pair already stored. ``read``
        is False when the portal concludes a status without the gateway saying it (a reading
        gone stale): the last reading's time and the failure count are left alone.
        """
        at = at or timezone.now()
        with transaction.atomic():
            current = Instance.objects.select_for_update().get(pk=self.pk)
            update = current.status_update(status, reason, at, code, code_at, read)
            if update is not None:
                if update.change is not None:
                    update.change.save()
                Instance.objects.filter(pk=self.pk).update(**update.fields)
        self.refresh_from_db()
        return update.change if update is not None else None

    def status_update(
        self,
        status: str,
        reason: str,
        at: datetime,
        code: int | None = None,
        code_at: datetime | None = None,
        read: bool = True,
    ) -> StatusUpdate | None:
        """Return what observing ``status`` at ``at`` changes on this row as read; None for old news.

        The rules of ``record_status`` without the database: the caller holds the row locked,
        saves the change and writes the fields (one row there, many at once in
        ``instances.bulk_writes``).
        """
        if at < self.status_since or self.is_old_close(code, code_at):
            # Out of order, or a retried webhook about a close from before the number was
            # last seen connected: old news either way.
            return None
        status = settled_status(self.status, status)
        fields: dict[str, object] = {"last_checked_at": at}
        if read:
            fields.update(last_read_at=at, consecutive_failures=0, last_error="")
        if status == Status.CONNECTED:
            fields.update(last_seen_connected_at=at, down_since=None)
        elif self.status == Status.CONNECTED or self.down_since is None:
            fields["down_since"] = at
        if code is not None and (code_at is None or (code, code_at) != self.disconnection_pair):
            fields.update(
                disconnection_code=code,
                disconnection_at=code_at,
                disconnection_reason=reason,
                disconnection_seen_at=at,
            )
        change = None
        if self.status != status:
            fields.update(status=status, status_since=at, status_reason=reason)
            change = StatusChange(
                instance=self, old_status=self.status, new_status=status, reason=reason, created_at=at
            )
        elif reason and reason != self.status_reason:
            fields["status_reason"] = reason
        return StatusUpdate(fields, change)

    def is_old_close(self, code: int | None, code_at: datetime | None) -> bool:
        """Return True if a reported close (``code`` dated ``code_at`` by the gateway) is old news.

        It is when it is the very pair already stored and the number was seen connected since,
        or when the gateway dates it well before the portal last saw the number connected (a
        webhook retried late). Clocks are compared only with CLOCK_SKEW_TOLERANCE to spare.
        """
        if code is None or code_at is None:
            return False
        if (code, code_at) == self.disconnection_pair and not self.has_fresh_disconnection():
            return True
        connected = self.last_seen_connected_at
        return connected is not None and code_at < connected - CLOCK_SKEW_TOLERANCE

    @property
    def disconnection_pair(self) -> tuple[int | None, datetime | None]:
        return self.disconnection_code, self.disconnection_at

    def record_sent(self, message_id: str | None = None, at: datetime | None = None, count: int = 1) -> bool:
        """Count ``count`` sent messages; return False if ``message_id`` was already counted.

        The id and the counter change atomically, so a gateway that retries a webhook, or two
        deliveries racing, count the message exactly once. This is the hot path of webhook
        ingestion: on PostgreSQL it is one statement (one round trip, one commit), elsewhere
        three ``INSERT … ON CONFLICT`` statements in one transaction.
        """
        at = at or timezone.now()
        ops = connection.ops
        params = {
            "instance": self.pk,
            "message": message_id[:128] if message_id else None,
            "at": ops.adapt_datetimefield_value(at),
            "hour": ops.adapt_datetimefield_value(hour_start(at)),
            "count": count,
            # ``last_message_at`` is written at most once a minute: a hot row would serialise
            # ingestion, and the overview only needs it to the minute.
            "stale_before": ops.adapt_datetimefield_value(at - LAST_MESSAGE_RESOLUTION),
        }
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(RECORD_SENT_POSTGRESQL, params)
                return bool(cursor.fetchone()[0])
            with transaction.atomic():
                if message_id:
                    cursor.execute(RECORD_MESSAGE_ID, params)
                    if cursor.fetchone() is None:
                        return False
                cursor.execute(ADD_TO_BUCKET, params)
                cursor.execute(TOUCH_LAST_MESSAGE, params)
        return True

    def usage_by_hour(self, hours: int = 24, now: datetime | None = None) -> list[tuple[datetime, int]]:
        """Return (local hour start, messages) for the last ``hours`` clock hours, oldest first."""
        now = now or timezone.now()
        last = hour_start(now)
        first = last - timedelta(hours=hours - 1)
        counts = dict(self.usage.filter(hour__gte=first).values_list("hour", "count"))
        slots = [hour_start(first + timedelta(hours=i)) for i in range(hours)]
        return [(slot, counts.get(slot, 0)) for slot in slots]


@dataclass
class StatusUpdate:
    """What one observation changes on an instance's row, and the history row if its status changed."""

    fields: dict[str, object]
    change: StatusChange | None


class StatusChange(models.Model):
    """One change of an instance's status: append-only history and uptime source."""

    instance = models.ForeignKey(Instance, models.CASCADE, related_name="status_changes", verbose_name="instância")
    old_status = models.CharField("de", max_length=16, choices=Status.choices)
    new_status = models.CharField("para", max_length=16, choices=Status.choices)
    reason = models.CharField("motivo", max_length=300, blank=True)
    created_at = models.DateTimeField("quando", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "mudança de status"
        verbose_name_plural = "mudanças de status"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.old_status} → {self.new_status}"


class OperatorAction(models.Model):
    """Who did what to an instance from the portal's pages (alerts keep their own timeline)."""

    class Kind(models.TextChoices):
        RECONNECT = "reconnect", "Pediu reconexão"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, verbose_name="quem")
    kind = models.CharField("ação", max_length=20, choices=Kind.choices)
    instance = models.ForeignKey(Instance, models.CASCADE, related_name="operator_actions", verbose_name="instância")
    detail = models.CharField("detalhe", max_length=300, blank=True)
    created_at = models.DateTimeField("quando", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "ação de operador"
        verbose_name_plural = "ações de operadores"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.instance_id}"
