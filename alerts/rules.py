"""The alert rules and the one code path that reconciles them with open alerts.

``evaluate()`` runs after every check cycle and after every status webhook. It reads the
fleet as it is now, derives the conditions that hold, and reconciles them with the open
alerts: new conditions open an alert and queue its notifications (the outbox), persisting
ones are counted, vanished ones resolve (bans wait for a person), unacknowledged ones remind.
Every write that could race another evaluation is a conditional UPDATE or guarded by the
"one open alert per key" constraint, so two evaluations at once never double-post.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.formats import date_format

from alerts.models import (
    MANUAL_RESOLVE_RULES,
    Alert,
    AlertEvent,
    AlertState,
    EventKind,
    NotificationKind,
    Rule,
    Severity,
    new_batch,
)
from instances.evolution import is_fresh_disconnection, reason_for
from instances.models import CheckCycle, Instance, Status

logger = logging.getLogger(__name__)

FLEET_RULES = frozenset({Rule.ALL_OFFLINE, Rule.GATEWAY_UNREACHABLE})


@dataclass(frozen=True)
class Condition:
    """A rule that holds right now, with the words to tell people about it."""

    rule: Rule
    severity: Severity
    title: str
    message: str
    instance: Instance | None = None

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.instance.pk if self.instance else None)


def alert_key(rule: str, instance_id: int | None) -> str:
    return f"{rule}:{instance_id if instance_id is not None else 'frota'}"


def _since(at: datetime) -> str:
    return date_format(timezone.localtime(at), "d/m H:i")


def _who(instance: Instance) -> str:
    return f"{instance.name} ({instance.phone_number})" if instance.phone_number else instance.name


def offline_is_confirmed(instance: Instance, now: datetime) -> bool:
    """Return True once a not-connected instance counts as an outage.

    A reconnect blip (close → connecting → open within the debounce) is not one. A terminal
    close the gateway reported (a disconnection code newer than the last time the instance
    was seen connected, by webhook or in the instance list) is one at once.
    """
    if instance.status == Status.CONNECTED or instance.last_seen_connected_at is None:
        return False
    return is_terminal_close(instance) or now - instance.status_since >= debounce()


def is_terminal_close(instance: Instance) -> bool:
    return instance.disconnection_code is not None and is_fresh_disconnection(
        instance.disconnection_at, instance.last_seen_connected_at
    )


def debounce() -> timedelta:
    return timedelta(seconds=settings.OFFLINE_DEBOUNCE_SECONDS)


def fleet_is_down(instances: list[Instance], now: datetime) -> bool:
    """Return True when no instance is online, and not just for a blip of the whole fleet.

    Numbers often drop together for a few seconds (a gateway restart); the urgent, channel-wide
    alert waits out the same debounce as one instance, counted from the latest drop.
    """
    if not instances or any(i.status == Status.CONNECTED for i in instances):
        return False
    latest_drop = max(i.status_since for i in instances)
    return now - latest_drop >= debounce() or any(is_terminal_close(i) for i in instances)


def instance_conditions(instance: Instance, now: datetime) -> list[Condition]:
    found = []
    who = _who(instance)
    reason = instance.disconnection_reason or reason_for(instance.disconnection_code) or "sem motivo informado"
    if instance.status == Status.BANNED:
        found.append(
            Condition(
                Rule.INSTANCE_BANNED,
                Severity.CRITICAL,
                f"Instância {instance.name} BANIDA",
                f"{who} foi banida pelo WhatsApp desde {_since(instance.status_since)}: {reason}. "
                "Precisa de revisão manual; o alerta só é resolvido por uma pessoa.",
                instance,
            )
        )
    elif offline_is_confirmed(instance, now):
        found.append(
            Condition(
                Rule.INSTANCE_OFFLINE,
                Severity.ERROR,
                f"Instância {instance.name} offline",
                f"{who} está {instance.get_status_display().lower()} desde {_since(instance.status_since)} ({reason}).",
                instance,
            )
        )
    load = instance.load_pct
    if load > settings.CAPACITY_ALERT_PCT:
        found.append(
            Condition(
                Rule.CAPACITY_HIGH,
                Severity.WARNING,
                f"Capacidade alta: {instance.name}",
                f"{who} usou {load:.1f}% da capacidade: {instance.msgs_hour}/{instance.capacity_per_hour} "
                f"nesta hora, {instance.msgs_day}/{instance.capacity_per_day} hoje.",
                instance,
            )
        )
    if instance.consecutive_failures > settings.CONSECUTIVE_FAILURES_ALERT:
        found.append(
            Condition(
                Rule.CONSECUTIVE_FAILURES,
                Severity.ERROR,
                f"Falhas seguidas: {instance.name}",
                f"{instance.consecutive_failures} verificações seguidas de {who} falharam"
                f" (último erro: {instance.last_error or 'desconhecido'}).",
                instance,
            )
        )
    return found


def detect(now: datetime) -> list[Condition]:
    """Return every condition that holds now (one query for the fleet, one for the last cycle)."""
    instances = list(Instance.objects.active().with_usage(now))
    found = [c for instance in instances for c in instance_conditions(instance, now)]
    last_cycle = CheckCycle.last_finished()
    if last_cycle is not None and not last_cycle.gateway_ok:
        found.append(
            Condition(
                Rule.GATEWAY_UNREACHABLE,
                Severity.CRITICAL,
                "Gateway Evolution inacessível",
                f"O gateway não responde desde {_since(last_cycle.started_at)}: "
                f"{last_cycle.gateway_error or 'sem resposta'}. Os estados das instâncias não estão sendo atualizados.",
            )
        )
    if fleet_is_down(instances, now):
        found.append(
            Condition(
                Rule.ALL_OFFLINE,
                Severity.CRITICAL,
                "SISTEMA CRÍTICO: todas as instâncias offline",
                f"Nenhuma das {len(instances)} instâncias ativas está conectada: nenhuma mensagem está saindo.",
            )
        )
    return found


@dataclass
class Evaluation:
    batch: str
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    reminded: list[Alert] = field(default_factory=list)
    persisting: int = 0

    def __str__(self) -> str:
        return (
            f"{len(self.opened)} novos, {self.persisting} persistentes, "
            f"{len(self.resolved)} resolvidos, {len(self.reminded)} lembretes"
        )


def open_alert(condition: Condition, now: datetime, batch: str, suppressed: bool) -> Alert | None:
    """Open an alert for a new condition and queue its notifications; None if one is already open."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=condition.rule,
                severity=condition.severity,
                instance=condition.instance,
                key=condition.key,
                title=condition.title,
                message=condition.message,
                suppressed=suppressed,
                first_seen_at=now,
                last_seen_at=now,
            )
            events = [AlertEvent(alert=alert, kind=EventKind.OPENED, detail=condition.message, created_at=now)]
            if suppressed:
                events.append(
                    AlertEvent(
                        alert=alert,
                        kind=EventKind.SUPPRESSED,
                        detail="Alerta de frota ativo: registrado, não enviado individualmente.",
                        created_at=now,
                    )
                )
            AlertEvent.objects.bulk_create(events)
            alert.notify(NotificationKind.FIRING, batch, now)
    except IntegrityError:
        # Another evaluation opened it a moment ago (the partial unique index said so).
        return None
    return alert


def unsuppress(alert: Alert, now: datetime, batch: str) -> bool:
    """The fleet alert is over but this instance is still down: tell people about it now."""
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert.pk, suppressed=True, state=AlertState.FIRING).update(suppressed=False):
            return False
        alert.suppressed = False
        alert.events.create(kind=EventKind.UPDATED, detail="Alerta de frota encerrado; instância segue offline.")
        alert.notify(NotificationKind.FIRING, batch, now)
    return True


def remind(now: datetime, batch: str) -> list[Alert]:
    """Queue reminders for firing (unacknowledged) alerts whose severity's interval has passed."""
    reminded = []
    for severity, minutes in settings.REMINDER_MINUTES.items():
        if not minutes:
            continue
        cutoff = now - timedelta(minutes=minutes)
        due = Alert.objects.filter(state=AlertState.FIRING, severity=severity, suppressed=False).filter(
            Q(last_notified_at__lte=cutoff) | Q(last_notified_at__isnull=True, first_seen_at__lte=cutoff)
        )
        for alert in due:
            with transaction.atomic():
                # Claim the reminder: a concurrent evaluation that read the same row loses here.
                claimed = Alert.objects.filter(pk=alert.pk, last_notified_at=alert.last_notified_at).update(
                    last_notified_at=now
                )
                if not claimed:
                    continue
                alert.events.create(kind=EventKind.REMINDED, detail=f"Sem reconhecimento há {minutes} min.")
                alert.notify(NotificationKind.REMINDER, batch, now)
            reminded.append(alert)
    return reminded


def evaluate(now: datetime | None = None) -> Evaluation:
    """Reconcile the conditions that hold now with the open alerts (see the module docstring)."""
    now = now or timezone.now()
    result = Evaluation(batch=new_batch())
    conditions = detect(now)
    fleet_down = any(c.rule in FLEET_RULES for c in conditions)
    holding = {c.key for c in conditions}
    open_alerts = {a.key: a for a in Alert.objects.open().select_related("instance")}

    persisting = []
    for condition in conditions:
        alert = open_alerts.get(condition.key)
        if alert is None:
            suppressed = fleet_down and condition.rule == Rule.INSTANCE_OFFLINE
            opened = open_alert(condition, now, result.batch, suppressed)
            if opened is not None:
                result.opened.append(opened)
            continue
        persisting.append(alert.pk)
        if alert.suppressed and not fleet_down:
            unsuppress(alert, now, result.batch)
    if persisting:
        Alert.objects.filter(pk__in=persisting).update(last_seen_at=now, occurrences=F("occurrences") + 1)
    result.persisting = len(persisting)

    for key, alert in open_alerts.items():
        if key in holding or alert.rule in MANUAL_RESOLVE_RULES:
            continue
        if alert.resolve(at=now, batch=result.batch):
            result.resolved.append(alert)

    result.reminded = remind(now, result.batch)
    if result.opened or result.resolved or result.reminded:
        logger.info("alert evaluation: %s", result)
    return result
