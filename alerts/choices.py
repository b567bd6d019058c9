"""The alerts app's vocabulary: rules, severities, states, channels, and who is told what, in what order.

Plain choices and tables, no models: the models, the rules, delivery and every channel ask here,
and nothing here imports them.
"""

from __future__ import annotations

from django.db import models


class Rule(models.TextChoices):
    INSTANCE_OFFLINE = "instance_offline", "Instância offline"
    INSTANCE_BANNED = "instance_banned", "Instância banida"
    CAPACITY_HIGH = "capacity_high", "Capacidade alta"
    ALL_OFFLINE = "all_offline", "Todas offline"
    CONSECUTIVE_FAILURES = "consecutive_failures", "Falhas seguidas"
    GATEWAY_UNREACHABLE = "gateway_unreachable", "Gateway inacessível"
    INSTANCE_UNSTABLE = "instance_unstable", "Instância instável"
    GATEWAY_BAD_DATA = "gateway_bad_data", "Dados inválidos do gateway"
    CACHE_UNAVAILABLE = "cache_unavailable", "Cache indisponível"
    CAPACITY_FORECAST = "capacity_forecast", "Capacidade prevista esgotada"


class Severity(models.TextChoices):
    WARNING = "warning", "Aviso"
    ERROR = "error", "Erro"
    CRITICAL = "critical", "Crítico"


SEVERITY_EMOJI: dict[str, str] = {Severity.WARNING: "⚠️", Severity.ERROR: "🔴", Severity.CRITICAL: "🚨"}


class AlertState(models.TextChoices):
    FIRING = "firing", "Disparado"
    ACKNOWLEDGED = "acknowledged", "Reconhecido"
    RESOLVED = "resolved", "Resolvido"


OPEN_STATES = (AlertState.FIRING, AlertState.ACKNOWLEDGED)


class Resolution(models.TextChoices):
    """How an alert was closed; only ``cleared`` means the condition itself is over."""

    CLEARED = "cleared", "condição normalizada"
    MANUAL = "manual", "resolvido por uma pessoa"
    SUPERSEDED = "superseded", "substituído pelo alerta de banimento"
    DEACTIVATED = "deactivated", "instância desativada"
    # A forecast that came true: the instance passed CAPACITY_ALERT_PCT and "Capacidade alta" tells it now.
    ESCALATED = "escalated", "substituído pelo alerta de capacidade alta"


class EventKind(models.TextChoices):
    OPENED = "opened", "Aberto"
    UPDATED = "updated", "Atualizado"
    SUPPRESSED = "suppressed", "Suprimido (contado por outro alerta)"
    NOTIFIED = "notified", "Notificado"
    REMINDED = "reminded", "Lembrete"
    DELIVERY_FAILED = "delivery_failed", "Falha de entrega"
    DELIVERY_GAVE_UP = "delivery_gave_up", "Entrega esgotou tentativas"
    # At-least-once, said: a pass died mid-delivery and a later one took the message over.
    DELIVERY_RESUMED = "delivery_resumed", "Entrega retomada após interrupção"
    REQUEUED = "requeued", "Reenfileirado"
    ACKNOWLEDGED = "acknowledged", "Reconhecido"
    RESOLVED = "resolved", "Resolvido"
    HELD = "held", "Retido pela manutenção"
    RELEASED = "released", "Enviado ao fim da manutenção"
    DOCTORS_MIGRATED = "doctors_migrated", "Médicos migrados"


class Channel(models.TextChoices):
    SLACK = "slack", "Slack"
    EMAIL = "email", "E-mail"
    LOG = "log", "Log"


class NotificationKind(models.TextChoices):
    FIRING = "firing", "Disparo"
    REMINDER = "reminder", "Lembrete"
    RESOLVED = "resolved", "Resolução"


class NotificationState(models.TextChoices):
    PENDING = "pending", "Pendente"
    SENT = "sent", "Enviada"
    FAILED = "failed", "Falhou"
    # Decided but deliberately not sent: the channel is not configured ("undelivered by choice").
    SUPPRESSED = "suppressed", "Não enviada (canal não configurado)"
    # Decided during a maintenance window that covers the alert: recorded, never delivered.
    HELD = "held", "Retida pela manutenção"


# Where each rule is told, and which alerts wait for a person to close them.
RULE_CHANNELS: dict[str, tuple[str, ...]] = {
    Rule.INSTANCE_OFFLINE: (Channel.SLACK, Channel.LOG),
    Rule.INSTANCE_BANNED: (Channel.SLACK, Channel.EMAIL, Channel.LOG),
    Rule.CAPACITY_HIGH: (Channel.SLACK, Channel.LOG),
    Rule.ALL_OFFLINE: (Channel.SLACK, Channel.LOG),
    Rule.CONSECUTIVE_FAILURES: (Channel.LOG,),
    Rule.GATEWAY_UNREACHABLE: (Channel.SLACK, Channel.LOG),
    Rule.INSTANCE_UNSTABLE: (Channel.SLACK, Channel.LOG),
    Rule.GATEWAY_BAD_DATA: (Channel.SLACK, Channel.LOG),
    Rule.CACHE_UNAVAILABLE: (Channel.SLACK, Channel.LOG),
    Rule.CAPACITY_FORECAST: (Channel.SLACK, Channel.LOG),
}
# Each rule's one severity (its condition in ``alerts.conditions`` says the same; a test pins it).
RULE_SEVERITY: dict[str, str] = {
    Rule.INSTANCE_OFFLINE: Severity.ERROR,
    Rule.INSTANCE_BANNED: Severity.CRITICAL,
    Rule.CAPACITY_HIGH: Severity.WARNING,
    Rule.ALL_OFFLINE: Severity.CRITICAL,
    Rule.CONSECUTIVE_FAILURES: Severity.ERROR,
    Rule.GATEWAY_UNREACHABLE: Severity.CRITICAL,
    Rule.INSTANCE_UNSTABLE: Severity.WARNING,
    Rule.GATEWAY_BAD_DATA: Severity.ERROR,
    Rule.CACHE_UNAVAILABLE: Severity.WARNING,
    Rule.CAPACITY_FORECAST: Severity.WARNING,
}
MANUAL_RESOLVE_RULES = frozenset({Rule.INSTANCE_BANNED})
# Rules told at most once per episode (their condition's ``since``): once closed, however it
# closed, they do not open again until a new episode begins (the forecast: once a day).
ONCE_PER_EPISODE_RULES = frozenset({Rule.CAPACITY_FORECAST})

# The reading order of a message: new alerts first, then reminders, then resolutions; the
# worst first within each. Tables are keyed by str: a model field reads back the plain value.
KIND_ORDER: dict[str, int] = {NotificationKind.FIRING: 0, NotificationKind.REMINDER: 1, NotificationKind.RESOLVED: 2}
SEVERITY_ORDER: dict[str, int] = {Severity.CRITICAL: 0, Severity.ERROR: 1, Severity.WARNING: 2}


def reading_order(kind: str, severity: str) -> tuple[int, int]:
    """Return the sort key that puts what matters most first in a grouped message."""
    return KIND_ORDER.get(kind, 9), SEVERITY_ORDER.get(severity, 9)
