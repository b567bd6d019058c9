"""The delivery engine: one pass over the notification outbox, channel by channel.

``deliver_due()`` claims due notifications with a conditional UPDATE (a lease), groups them
by batch into one message per channel, sends it, and records the outcome
(``alerts.delivery_outcomes``). It is at-least-once: a process that dies after claiming, or
after sending but before recording, leaves rows that fall due again when the lease expires,
so a crash re-sends and never drops. Two passes at once never send the same row twice,
because only one of them wins each row's claim.

A pass is bounded (``max_messages`` per channel and a time budget) so it always ends well
inside the django-q2 task timeout (50 s): about one message a second per remote channel.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from alerts.channels import TRANSPORTS, get_transport
from alerts.channels.base import Item, Message, Transport, TransportError
from alerts.choices import Channel, EventKind, NotificationKind, NotificationState, reading_order
from alerts.delivery_outcomes import (
    fingerprint_of,
    label,
    record_broken,
    record_delivered,
    record_failure,
    record_rate_limited,
    record_resumed,
)
from alerts.models import AlertEvent, ChannelStatus, Notification
from instances.models import Instance, Status
from julia_monitor.lib import text
from julia_monitor.lib.text import plural

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Longer than a whole pass (budget + one send timeout), so a live pass never loses its claim.
CLAIM_LEASE = timedelta(seconds=60)
DEFAULT_MAX_MESSAGES = 20
# No new message starts after this many seconds: with one last send timeout the pass still
# ends well inside the 50 s task timeout.
PASS_BUDGET_SECONDS = 30.0
# Remote services limit how fast we post; writing a log line needs no pacing.
UNTHROTTLED = frozenset({Channel.LOG})


@dataclass
class DeliveryReport:
    """What one pass did, counted in notifications (rows), for the task result and the command."""

    sent: int = 0
    messages: int = 0
    deferred: int = 0  # held back by a channel's rate limit (Slack 429): not an attempt
    retrying: int = 0  # failed for now, next attempt scheduled
    failed: int = 0  # gave up after the retry budget
    unconfigured: int = 0  # channel not configured: suppressed, never attempted
    held: int = 0  # waiting for a broken channel to be fixed
    left_over: int = 0  # due but beyond this pass's bound: the next pass takes them
    rate_limited: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        deferred = plural(self.deferred, "adiada", "adiadas")
        if self.rate_limited:
            deferred += f" (limite do {', '.join(self.rate_limited)})"
        parts = [
            plural(self.sent, "enviada", "enviadas"),
            deferred,
            plural(self.failed, "falhou", "falharam"),
            plural(self.unconfigured, "não configurada", "não configuradas"),
        ]
        if self.retrying:
            parts.append(f"{self.retrying} com nova tentativa agendada")
        if self.held:
            parts.append(f"{self.held} aguardando {', '.join(self.broken)} (canal quebrado)")
        elif self.broken:
            parts.append(f"canal quebrado: {', '.join(self.broken)}")
        if self.left_over:
            parts.append(f"{self.left_over} para a próxima passada")
        return ", ".join(parts)


def deliver_due(
    now: datetime | None = None,
    *,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    sleep: Callable[[float], None] = time.sleep,
    transports: Mapping[str, Transport] | None = None,
    budget_seconds: float = PASS_BUDGET_SECONDS,
) -> DeliveryReport:
    """Run one delivery pass over every channel and return what it did.

    ``now`` given means a simulated clock (benchmarks, tests): time then moves only by what
    the pass asked ``sleep`` to wait. ``transports`` overrides the registry per channel.
    """
    if max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    run = _Pass(now, sleep, transports or {}, max_messages, budget_seconds)
    for channel in TRANSPORTS:
        try:
            run.deliver_channel(channel)
        except DatabaseError:
            # Without the database nothing can be claimed or recorded: fail the pass loudly.
            raise
        except Exception:
            # One broken channel (or a bug in its transport) never stops the others.
            logger.exception("delivery pass failed on channel %s", channel)
    return run.report


class _Pass:
    def __init__(
        self,
        now: datetime | None,
        sleep: Callable[[float], None],
        transports: Mapping[str, Transport],
        max_messages: int,
        budget_seconds: float,
    ) -> None:
        self.simulated = now is not None
        self.start = now or timezone.now()
        self.slept = 0.0
        self._started = time.monotonic()
        self._sleep = sleep
        self.transports = transports
        self.max_messages = max_messages
        self.budget = budget_seconds
        self.report = DeliveryReport()
        self._context: dict[str, int] | None = None
        self.failing: set[str] = set()  # channels whose last attempts failed
        self.in_flight: set[int] = set()  # rows being sent when the pass was stopped

    def clock(self) -> datetime:
        if self.simulated:
            return self.start + timedelta(seconds=self.slept)
        return timezone.now()

    def elapsed(self) -> float:
        """Seconds this pass has taken: simulated time, but never less than the real time spent."""
        return max((self.clock() - self.start).total_seconds(), time.monotonic() - self._started)

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)
        self.slept += seconds

    def context(self) -> dict[str, int]:
        """Fleet counts for the reader ("12 de 300 instâncias online"), one query per pass."""
        if self._context is None:
            self._context = fleet_context()
        return self._context

    def deliver_channel(self, channel: str) -> None:
        transport = self.transports.get(channel) or get_transport(channel)
        due = Notification.objects.due(self.start).filter(channel=channel)
        if not transport.is_configured():
            # Configuration was removed after these were queued: undelivered by choice, never attempted.
            self.report.unconfigured += due.update(
                state=NotificationState.SUPPRESSED, last_error="canal não configurado"
            )
            return
        status = ChannelStatus.for_channel(channel)
        if status.is_broken and not _unbreak_if_reconfigured(status, transport, self.clock()):
            self.report.broken.append(label(channel))
            self.report.held += due.count()
            return
        if status.is_paused(self.start):
            waiting = due.count()
            if waiting:
                self.report.deferred += waiting
                self.report.rate_limited.append(label(channel))
            return
        if status.consecutive_failures:
            self.failing.add(channel)
        token = uuid.uuid4().hex
        claimed = self._claim(channel, token)
        if not claimed:
            return
        try:
            self._send_batches(channel, transport, status, claimed)
        finally:
            left = self._release(claimed, token)
            if label(channel) in self.report.broken:
                self.report.held += left
            else:
                self.report.left_over += left

    def _claim(self, channel: str, token: str) -> list[int]:
        """Claim the oldest ``max_messages`` due batches of the channel; return the ids won."""
        ids = due_batch_ids(channel, self.start, self.max_messages)
        if not ids:
            return []
        # Due yet still marked claimed: the lease of a pass that died holding them ran out.
        expired = set(Notification.objects.filter(pk__in=ids, claimed_until__isnull=False).values_list("pk", flat=True))
        # The conditional UPDATE is the claim: of two passes that selected the same rows, the
        # second finds them claimed (PostgreSQL re-checks the WHERE after the row lock).
        Notification.objects.due(self.start).filter(pk__in=ids).update(
            claimed_until=self.clock() + CLAIM_LEASE, claimed_by=token
        )
        won = list(Notification.objects.filter(pk__in=ids, claimed_by=token).values_list("pk", flat=True))
        record_resumed(channel, [pk for pk in won if pk in expired], self.clock())
        return won

    def _release(self, claimed: list[int], token: str) -> int:
        """Give back claimed rows this pass did not finish, so the next pass needs no lease to expire."""
        try:
            return Notification.objects.filter(
                pk__in=[pk for pk in claimed if pk not in self.in_flight],
                claimed_by=token,
                state=NotificationState.PENDING,
            ).update(claimed_until=None, claimed_by="")
        except DatabaseError:
            logger.exception("could not release claimed notifications; their lease expires in %s", CLAIM_LEASE)
            return 0

    def _send_batches(self, channel: str, transport: Transport, status: ChannelStatus, claimed: list[int]) -> None:
        rows = (
            Notification.objects.filter(pk__in=claimed, state=NotificationState.PENDING)
            .select_related("alert__instance", "alert__resolved_by")
            .order_by("created_at", "id")
        )
        batches: dict[str, list[Notification]] = {}
        for row in rows:
            batches.setdefault(row.batch, []).append(row)
        last_sent = status.last_sent_at
        for batch in batches.values():
            wait = self._pace(channel, last_sent)
            # Never start a message the time budget cannot afford, waiting included.
            if self.elapsed() + wait >= self.budget:
                break
            if wait > 0:
                self.sleep(wait)
            if not self._send(channel, transport, batch, claimed, self.clock()):
                break
            # Paced from the end of a post, not its start: however slow one post was, the next
            # one reaches the channel at least an interval after it.
            last_sent = self.clock()

    def _pace(self, channel: str, last_sent: datetime | None) -> float:
        """Return how long to wait to keep about one message per ``CHANNEL_MIN_INTERVAL_SECONDS``."""
        interval = settings.CHANNEL_MIN_INTERVAL_SECONDS
        if channel in UNTHROTTLED or interval <= 0 or last_sent is None:
            return 0.0
        return max(min(interval - (self.clock() - last_sent).total_seconds(), interval), 0.0)

    def _send(
        self, channel: str, transport: Transport, rows: list[Notification], claimed: list[int], at: datetime
    ) -> bool:
        """Send one batch as one message; return False when the channel must stop for this pass."""
        ChannelStatus.objects.filter(channel=channel).update(last_sent_at=at)
        message = Message(items=ordered_items(rows), created_at=min(r.created_at for r in rows), context=self.context())
        try:
            receipt = transport.send(message)
        except TransportError as exc:
            return self._failed(channel, transport, rows, claimed, exc)
        except Exception as exc:
            # A bug in a transport is a failed attempt like any other: retried, never lost.
            logger.exception("%s transport crashed", label(channel))
            return self._failed(channel, transport, rows, claimed, TransportError(f"erro interno: {exc!r}"))
        except BaseException:
            # Stopped mid-send (Ctrl-C, SIGTERM): the post may have gone out. Like a crash's, these
            # rows keep their claim; whoever takes them over after the lease says so (record_resumed).
            self.in_flight.update(row.pk for row in rows)
            raise
        record_delivered(channel, rows, self.clock(), recovered=channel in self.failing, receipt=receipt)
        self.failing.discard(channel)
        self.report.sent += len(rows)
        self.report.messages += 1
        return True

    def _failed(
        self, channel: str, transport: Transport, rows: list[Notification], claimed: list[int], exc: TransportError
    ) -> bool:
        at = self.clock()
        if exc.permanent:
            record_broken(channel, transport, rows, exc, at)
            self.report.broken.append(label(channel))  # its claimed rows are counted as held on release
        elif exc.retry_after is not None:
            _until, put_back = record_rate_limited(channel, rows, claimed, exc, at)
            self.report.deferred += put_back
            self.report.rate_limited.append(label(channel))
        else:
            retrying, given_up = record_failure(channel, rows, exc, at)
            self.report.retrying += retrying
            self.report.failed += given_up
        # After any failure the service is probably still unwell: the rest waits for the next pass.
        return False


def fleet_context() -> dict[str, int]:
    """Return the fleet counts a message's reader sees: "12 de 300 instâncias online"."""
    return Instance.objects.active().aggregate(online=Count("pk", filter=Q(status=Status.CONNECTED)), total=Count("pk"))


def due_batch_ids(channel: str, now: datetime, max_batches: int) -> list[int]:
    """Return the ids of the due notifications of the channel's oldest ``max_batches`` batches."""
    due = Notification.objects.due(now).filter(channel=channel)
    batches = (
        due.values("batch")
        .annotate(first=Min("created_at"), first_id=Min("id"))
        .order_by("first", "first_id")
        .values_list("batch", flat=True)[:max_batches]
    )
    return list(due.filter(batch__in=list(batches)).values_list("pk", flat=True))


def ordered_items(rows: Iterable[Notification]) -> list[Item]:
    """Order a message for its reader: firing by severity (critical first), then reminders, then resolved."""

    def rank(row: Notification) -> tuple[int, int, datetime, int]:
        alert = row.alert
        return (*reading_order(row.kind, alert.severity), alert.first_seen_at, alert.pk)

    return [
        Item(alert=row.alert, kind=NotificationKind(row.kind), in_maintenance=row.window_id is not None)
        for row in sorted(rows, key=rank)
    ]


def _unbreak_if_reconfigured(status: ChannelStatus, transport: Transport, at: datetime) -> bool:
    """Re-enable a broken channel whose configuration changed since it broke; return True if it did."""
    if not status.broken_fingerprint or status.broken_fingerprint == fingerprint_of(transport):
        return False
    reason = (
        f"Reativado automaticamente em {text.moment_exact(at)}: a configuração mudou. "
        f"Motivo anterior: {_reason(status)}"
    )
    done = ChannelStatus.objects.filter(pk=status.pk, broken_at=status.broken_at).update(
        broken_at=None, broken_reason=reason, broken_fingerprint="", consecutive_failures=0
    )
    if done:
        logger.warning("%s channel re-enabled: its configuration changed since it broke", label(status.channel))
    return True


def _reason(status: ChannelStatus) -> str:
    return status.broken_reason.strip() or "desconhecido"


def _who(user: User | None) -> str:
    return user.get_username() if user is not None else "sistema"


def unbreak(channel: str, user: User | None = None, at: datetime | None = None) -> bool:
    """Re-enable a broken channel by hand (the admin's action); return False if it was not broken.

    Its pending notifications go out on the next pass.
    """
    if channel not in Channel.values:
        raise ValueError(f"canal desconhecido: {channel!r}")
    at = at or timezone.now()
    status = ChannelStatus.for_channel(channel)
    if not status.is_broken:
        return False
    reason = f"Reativado por {_who(user)} em {text.moment_exact(at)}. Motivo anterior: {_reason(status)}"
    done = ChannelStatus.objects.filter(pk=status.pk, broken_at__isnull=False).update(
        broken_at=None, broken_reason=reason, broken_fingerprint="", consecutive_failures=0
    )
    if done:
        logger.warning("%s channel re-enabled by %s", label(channel), _who(user))
    return bool(done)


def requeue(notification_ids: Iterable[int], user: User | None = None, at: datetime | None = None) -> int:
    """Give failed notifications a fresh retry budget (the admin's action); return how many.

    Only ``failed`` rows move, under a row lock, so two operators clicking at once requeue
    (and record) each row once.
    """
    at = at or timezone.now()
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update()
            .filter(pk__in=list(notification_ids), state=NotificationState.FAILED)
            .only("pk", "alert_id", "channel")
        )
        if not rows:
            return 0
        Notification.objects.filter(pk__in=[r.pk for r in rows]).update(
            state=NotificationState.PENDING, attempts=0, next_attempt_at=at, claimed_until=None, claimed_by=""
        )
        AlertEvent.objects.bulk_create(
            AlertEvent(
                alert_id=row.alert_id,
                kind=EventKind.REQUEUED,
                actor=user,
                detail=f"{label(row.channel)}: reenfileirada por {_who(user)}; "
                f"entrega às {text.time_of_day(at)} ou logo após.",
                created_at=at,
            )
            for row in rows
        )
    logger.info("%d notification(s) requeued by %s", len(rows), _who(user))
    return len(rows)
