"""What a delivery attempt leaves behind: outbox rows, timeline events and the channel's health.

Split from ``alerts.delivery`` (the pass itself): every function here records one outcome of
one message on one channel, in one transaction, so an operator sees each attempt and its
error in the alert's timeline and in the channel's status.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F

from alerts.channels.base import Receipt, Transport, TransportError
from alerts.choices import Channel, EventKind, NotificationKind, NotificationState
from alerts.models import RESUMED_NOTE, AlertEvent, ChannelStatus, Notification
from julia_monitor.lib import text

logger = logging.getLogger(__name__)

# Never let a misbehaving Retry-After hold the alerts for longer than this.
MAX_PAUSE_SECONDS = 900.0


def label(channel: str) -> str:
    return str(Channel(channel).label)


def describe(channel: str, exc: BaseException) -> str:
    """Return "<canal>: <erro>", without repeating the channel when the error already names it."""
    text = str(exc) or type(exc).__name__
    return text if text.lower().startswith(label(channel).lower()) else f"{label(channel)}: {text}"


def backoff_seconds(attempts: int) -> float:
    """Return the wait after the ``attempts``-th failed try: exponential, capped, a little jitter.

    The jitter only shortens the wait (by up to 10 %), so the documented schedule is an upper
    bound and a fleet of retries does not hit a recovering service in the same second.
    """
    base = settings.NOTIFICATION_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return min(base, settings.NOTIFICATION_BACKOFF_MAX_SECONDS) * random.uniform(0.9, 1.0)


def fingerprint_of(transport: Transport) -> str:
    # Hashed: a fingerprint may well be built from a webhook URL or a token.
    return hashlib.sha256(transport.config_fingerprint().encode()).hexdigest()[:12]


def _notified_detail(channel: str, kinds: set[str], grouped: int) -> str:
    what = "enviado"
    if kinds == {NotificationKind.REMINDER}:
        what = "lembrete enviado"
    elif kinds == {NotificationKind.RESOLVED}:
        what = "resolução enviada"
    if channel == Channel.LOG:
        what = what.replace("enviad", "registrad")
    if channel == Channel.EMAIL:
        count = len(settings.ALERT_EMAILS)
        what += f" para {count} destinatário{'s' if count != 1 else ''}"
    if grouped > 1:
        what += f" (mensagem agrupada com {grouped} alertas)"
    return f"{label(channel)}: {what}"


def record_delivered(
    channel: str,
    rows: Sequence[Notification],
    at: datetime,
    *,
    recovered: bool = False,
    receipt: Receipt | None = None,
) -> None:
    """Mark the rows of a delivered message sent and tell each alert's timeline.

    ``receipt``: where the message landed (a Slack post's channel and ``ts``), kept on every row
    of the message so the post can be rewritten in place when someone acts from it.

    ``recovered``: the channel was failing until this message. Rows still backing off from
    the outage are due at once, so the backlog goes out at the channel's pace instead of
    trickling out over the next minutes of exponential backoff.
    """
    with transaction.atomic():
        if recovered:
            Notification.objects.filter(
                channel=channel, state=NotificationState.PENDING, next_attempt_at__gt=at
            ).update(next_attempt_at=at)
        Notification.objects.filter(pk__in=[r.pk for r in rows], state=NotificationState.PENDING).update(
            state=NotificationState.SENT,
            sent_at=at,
            attempts=F("attempts") + 1,
            claimed_until=None,
            claimed_by="",
            **({"posted_channel": receipt.channel, "posted_ts": receipt.ts} if receipt else {}),
        )
        by_alert: dict[int, set[str]] = defaultdict(set)
        for row in rows:
            by_alert[row.alert_id].add(row.kind)
        AlertEvent.objects.bulk_create(
            AlertEvent(
                alert_id=alert_id,
                kind=EventKind.NOTIFIED,
                detail=_notified_detail(channel, kinds, len(by_alert)),
                created_at=at,
            )
            for alert_id, kinds in by_alert.items()
        )
        ChannelStatus.objects.filter(channel=channel).update(last_success_at=at, consecutive_failures=0)


def record_resumed(channel: str, ids: Sequence[int], at: datetime) -> None:
    """Say that these notifications were taken over from a pass that died holding them.

    That pass may have posted before it died (delivery is at-least-once), so the admin and
    each alert's timeline warn that the message may have gone out twice.
    """
    if not ids:
        return
    with transaction.atomic():
        Notification.objects.filter(pk__in=ids).update(resumed_at=at)
        alert_ids = dict.fromkeys(Notification.objects.filter(pk__in=ids).values_list("alert_id", flat=True))
        AlertEvent.objects.bulk_create(
            AlertEvent(
                alert_id=a, kind=EventKind.DELIVERY_RESUMED, detail=f"{label(channel)}: {RESUMED_NOTE}", created_at=at
            )
            for a in alert_ids
        )
    logger.warning(
        "%s: %d notification(s) resumed after an interrupted pass; they may be posted twice", label(channel), len(ids)
    )


def _events(rows: Sequence[Notification], kind: EventKind, detail: str, at: datetime) -> None:
    alert_ids = dict.fromkeys(r.alert_id for r in rows)
    AlertEvent.objects.bulk_create(AlertEvent(alert_id=a, kind=kind, detail=detail, created_at=at) for a in alert_ids)


def record_rate_limited(
    channel: str, attempted: Sequence[Notification], claimed_ids: Sequence[int], exc: TransportError, at: datetime
) -> tuple[datetime, int]:
    """Pause the channel for Retry-After and put every claimed row back, without spending an attempt.

    A long rate limit must never exhaust the retry budget: only real failures count.
    Return the end of the pause and how many rows were put back.
    """
    pause = min(max(float(exc.retry_after or 0), 1.0), MAX_PAUSE_SECONDS)
    until = at + timedelta(seconds=pause)
    error = f"{label(channel)}: limite de taxa ({exc}); pausado até {text.time_of_day(until)}"
    with transaction.atomic():
        ChannelStatus.objects.filter(channel=channel).update(paused_until=until, last_error=error)
        put_back = Notification.objects.filter(pk__in=claimed_ids, state=NotificationState.PENDING).update(
            next_attempt_at=until, claimed_until=None, claimed_by="", last_error=error
        )
        _events(attempted, EventKind.DELIVERY_FAILED, f"{error} (não conta como tentativa)", at)
    logger.warning("%s rate-limited: paused until %s", label(channel), until.isoformat())
    return until, put_back


def record_broken(
    channel: str, transport: Transport, attempted: Sequence[Notification], exc: TransportError, at: datetime
) -> None:
    """A permanent error: disable the channel loudly; the rows stay pending for when it is fixed."""
    error = describe(channel, exc)
    with transaction.atomic():
        ChannelStatus.objects.filter(channel=channel).update(
            broken_at=at,
            broken_reason=str(exc),
            broken_fingerprint=fingerprint_of(transport),
            last_error=error,
            consecutive_failures=F("consecutive_failures") + 1,
        )
        # Not failed and not counted: nothing will go out until a person fixes the configuration.
        Notification.objects.filter(pk__in=[r.pk for r in attempted], state=NotificationState.PENDING).update(
            last_error=error
        )
        _events(
            attempted,
            EventKind.DELIVERY_FAILED,
            f"{error} — erro permanente: canal desativado até a configuração ser corrigida; a notificação segue"
            " pendente.",
            at,
        )
    logger.error(
        "%s channel broken by a permanent error, its notifications wait: %s", label(channel), text.one_line(exc)
    )


def record_failure(channel: str, rows: Sequence[Notification], exc: TransportError, at: datetime) -> tuple[int, int]:
    """A transient error: spend one attempt, back off, and give up after the budget.

    Return (rows to retry, rows given up). Given-up rows become ``failed``, never deleted:
    an operator can requeue them from the admin.
    """
    error = describe(channel, exc)
    budget = settings.NOTIFICATION_MAX_ATTEMPTS
    by_attempts: dict[int, list[Notification]] = defaultdict(list)
    for row in rows:
        by_attempts[row.attempts + 1].append(row)
    retry_rows = [r for n, group in by_attempts.items() if n < budget for r in group]
    # One next attempt for the whole message (from its most-tried row) keeps the batch together.
    tried = max((r.attempts + 1 for r in retry_rows), default=1)
    next_at = at + timedelta(seconds=backoff_seconds(tried))
    given_up = 0
    with transaction.atomic():
        for attempts, group in by_attempts.items():
            ids = [r.pk for r in group]
            if attempts >= budget:
                given_up += Notification.objects.filter(pk__in=ids, state=NotificationState.PENDING).update(
                    state=NotificationState.FAILED,
                    attempts=attempts,
                    last_error=error,
                    claimed_until=None,
                    claimed_by="",
                )
                _events(
                    group,
                    EventKind.DELIVERY_GAVE_UP,
                    f"{error} — desistiu após {attempts} tentativas; reenfileire pelo admin.",
                    at,
                )
                logger.error(
                    "%s gave up after %d attempts on alerts %s: %s", label(channel), attempts, ids, text.one_line(exc)
                )
            else:
                Notification.objects.filter(pk__in=ids, state=NotificationState.PENDING).update(
                    attempts=attempts, next_attempt_at=next_at, last_error=error, claimed_until=None, claimed_by=""
                )
                _events(
                    group,
                    EventKind.DELIVERY_FAILED,
                    f"{error} (tentativa {attempts} de {budget}; próxima às {text.time_of_day(next_at)})",
                    at,
                )
        ChannelStatus.objects.filter(channel=channel).update(
            last_error=error, consecutive_failures=F("consecutive_failures") + 1
        )
    if retry_rows:
        logger.warning(
            "%s delivery failed, retrying at %s: %s", label(channel), next_at.isoformat(), text.one_line(exc)
        )
    return len(retry_rows), given_up
