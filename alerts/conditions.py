"""The alert rules: which conditions hold right now, and the words to tell people about them.

``detect()`` reads the fleet once and returns every ``Condition`` that holds; reconciling them
with the open alerts is ``alerts.rules.evaluate()``. Titles and the first sentence of each
message are the product specification's own words; the details that make them true today
(reason, since when, figures) follow them.

The outage clock is ``Instance.down_since``: an outage runs from the moment a number left
``connected`` until it is ``connected`` again, whatever not-connected states it passes through.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.utils import timezone

from alerts.choices import Rule, Severity
from instances.fleet import is_high_load, recent_drops
from instances.forecast import Periods, instance_forecast
from instances.models import CheckCycle, Instance, MigrationBatch, MigrationReason, Status, day_start
from julia_monitor.lib import text
from julia_monitor.lib.text import plural

FLEET_RULES = frozenset({Rule.ALL_OFFLINE, Rule.GATEWAY_UNREACHABLE})


@dataclass(frozen=True)
class Condition:
    """A rule that holds right now, with the words to tell people about it.

    ``since`` is when this episode of the condition began (an outage, a ban, a fleet drop): a
    person who resolves its alert closes it for the episode, and it does not open again until
    a new one begins. ``opens`` False means the condition only keeps an open alert alive (the
    hysteresis of "instável"), it does not open one.
    """

    rule: Rule
    severity: Severity
    title: str
    message: str
    instance: Instance | None = None
    since: datetime | None = None
    opens: bool = True

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.instance.pk if self.instance else None)


def alert_key(rule: str, instance_id: int | None) -> str:
    return f"{rule}:{instance_id if instance_id is not None else 'frota'}"


def debounce() -> timedelta:
    return timedelta(seconds=settings.OFFLINE_DEBOUNCE_SECONDS)


def _who(instance: Instance) -> str:
    return f"{instance.name} ({instance.phone_number})" if instance.phone_number else instance.name


def down_reason(instance: Instance) -> str:
    """Return why the instance is down now: the close's code if it belongs to this outage, else its status."""
    if instance.has_fresh_disconnection() and instance.disconnection_reason:
        return instance.disconnection_reason
    return instance.status_reason or "sem motivo informado"


def offline_is_confirmed(instance: Instance, now: datetime) -> bool:
    """Return True once a not-connected instance counts as an outage.

    A reconnect blip (close → connecting → open within the debounce) is not one; a terminal
    close the gateway reported for this outage is one at once. An instance never seen
    connected has no outage to report (it is new, or still being paired).
    """
    started = instance.outage_started_at
    if started is None or instance.last_seen_connected_at is None:
        return False
    return instance.has_fresh_disconnection() or now - started >= debounce()


def fleet_drop(instances: list[Instance]) -> datetime | None:
    """Return when the fleet lost its last connected instance (None while any is connected).

    The newest outage start: numbers that were banned or down long before do not move it,
    and moves between not-connected states do not either.
    """
    if not instances or any(i.status == Status.CONNECTED for i in instances):
        return None
    # None only while connected, and none of them is.
    return max(started for i in instances if (started := i.outage_started_at) is not None)


@dataclass
class Fleet:
    """What ``detect()`` reads, in a constant number of queries whatever the fleet's size."""

    instances: list[Instance]
    # instance pk → the moments it dropped from connected within the flapping window, oldest first.
    drops: dict[int, list[datetime]]
    gateway_error: str = ""
    gateway_failing_since: datetime | None = None
    # What the last cycle that reached the gateway refused, and since when the cache is down.
    invalid_rows: list[str] = field(default_factory=list)
    invalid_since: datetime | None = None
    cache_error: str = ""
    cache_failing_since: datetime | None = None
    # banned instance pk → the migration of its doctors for the current ban, if there was one.
    ban_batches: dict[int, MigrationBatch] = field(default_factory=dict)

    @cached_property
    def high_load(self) -> set[int]:
        """The instances above CAPACITY_ALERT_PCT now (where "Capacidade alta" holds)."""
        return {i.pk for i in self.instances if is_high_load(i.load_pct)}

    @classmethod
    def read(cls, now: datetime) -> Fleet:
        instances = list(Instance.objects.active().with_usage(now))
        fleet = cls(instances=instances, drops=recent_drops(now))
        banned = {i.pk: i.status_since for i in instances if i.status == Status.BANNED}
        if banned:
            batches = MigrationBatch.objects.filter(instance__in=banned, reason=MigrationReason.BANNED)
            fleet.ban_batches = {b.instance_id: b for b in batches if b.episode_since == banned[b.instance_id]}
        last = CheckCycle.last_finished()
        if last is not None and not last.gateway_ok:
            fleet.gateway_error = last.gateway_error or "sem resposta"
            fleet.gateway_failing_since = failing_since(last, "gateway_ok")
        if last is not None and not last.cache_ok:
            fleet.cache_error = last.cache_error or "sem resposta"
            fleet.cache_failing_since = failing_since(last, "cache_ok")
        # A cycle that could not reach the gateway says nothing about its rows: the last one that did.
        reached = last if last is None or last.gateway_ok else CheckCycle.last_finished(gateway_ok=True)
        rows = reached.invalid_rows if reached is not None else []
        if reached is not None and reached.round_id is not None:
            # A sharded minute: each shard refused what it saw of its own slice.
            minute = CheckCycle.objects.filter(round_id=reached.round_id).order_by("shard")
            rows = list(dict.fromkeys(row for found in minute.values_list("invalid_rows", flat=True) for row in found))
        if reached is not None and rows:
            fleet.invalid_rows = [str(row) for row in rows]
            fleet.invalid_since = reached.started_at
        return fleet


def failing_since(last: CheckCycle, ok_field: str) -> datetime:
    """Return when the current run of cycles with ``ok_field`` False began (``last`` is the newest, and failed)."""
    finished = CheckCycle.objects.filter(finished_at__isnull=False)
    last_ok = finished.filter(**{ok_field: True}).order_by("-started_at").values_list("started_at", flat=True).first()
    failed = finished.filter(**{ok_field: False})
    if last_ok is not None:
        failed = failed.filter(started_at__gt=last_ok)
    return failed.order_by("started_at").values_list("started_at", flat=True).first() or last.started_at


def migration_words(batch: MigrationBatch | None) -> str:
    """Return what the ban alert says about the banned number's doctors ("" when nothing was migrated).

    Only a migration that happened is claimed: with MIGRATE_DOCTORS_ON_BAN off there is none.
    """
    if batch is None:
        return ""
    if not batch.moved and not batch.stranded:
        return "Nenhum médico atribuído a migrar. "
    if not batch.moved:
        return f"Nenhum dos {batch.stranded} médicos atribuídos pôde ser migrado: sem capacidade livre na frota. "
    undone = f" (migração desfeita em {text.moment(batch.undone_at)})" if batch.undone_at else ""
    return f"Médicos estão sendo migrados: {batch.summary}{undone}. "


def instance_conditions(
    instance: Instance,
    drops: list[datetime],
    now: datetime,
    periods: Periods | None = None,
    batch: MigrationBatch | None = None,
) -> list[Condition]:
    found = []
    who = _who(instance)
    name = instance.name
    if instance.status == Status.BANNED:
        found.append(
            Condition(
                Rule.INSTANCE_BANNED,
                Severity.CRITICAL,
                f"Instância {name} BANIDA",
                f"A instância '{name}' foi banida pelo WhatsApp. {migration_words(batch)}{who}, banida desde "
                f"{text.moment(instance.status_since)}: {down_reason(instance)}. "
                "Precisa de revisão manual; o alerta só é resolvido por uma pessoa.",
                instance,
                since=instance.outage_started_at,
            )
        )
    elif offline_is_confirmed(instance, now):
        started = instance.outage_started_at
        assert started is not None  # an outage is confirmed only once it has a start
        found.append(
            Condition(
                Rule.INSTANCE_OFFLINE,
                Severity.ERROR,
                f"Instância {name} offline",
                f"A instância WhatsApp '{name}' perdeu conexão. Verifique o QR Code. {who} está fora do ar desde "
                f"{text.moment(started)}; agora {instance.get_status_display().lower()} ({down_reason(instance)}).",
                instance,
                since=started,
            )
        )
    if drops:
        found.append(unstable_condition(instance, drops, now))
    load = instance.load_pct
    if is_high_load(load):
        found.append(
            Condition(
                Rule.CAPACITY_HIGH,
                Severity.WARNING,
                f"Capacidade alta: {name}",
                f"Instância '{name}' está com {load:.0f}% de capacidade usada. {who}: "
                f"{instance.msgs_hour}/{instance.capacity_per_hour} nesta hora, "
                f"{instance.msgs_day}/{instance.capacity_per_day} hoje.",
                instance,
            )
        )
    elif (forecast_found := forecast_condition(instance, periods or Periods.of(now))) is not None:
        found.append(forecast_found)
    if instance.consecutive_failures > settings.CONSECUTIVE_FAILURES_ALERT:
        found.append(
            Condition(
                Rule.CONSECUTIVE_FAILURES,
                Severity.ERROR,
                f"Falhas seguidas: {name}",
                f"Mais de {settings.CONSECUTIVE_FAILURES_ALERT} verificações seguidas de {who} falharam "
                f"(último erro: {instance.last_error or 'desconhecido'}). Investigue a instância no gateway.",
                instance,
            )
        )
    return found


# The forecast alert words its moment to the 10 minutes before it: the words stay put while
# the pace moves a little (each rewording is a timeline entry), and they err on the early side.
FORECAST_STEP_MINUTES = 10


def forecast_condition(instance: Instance, periods: Periods) -> Condition | None:
    """ "Capacidade prevista esgotada": today's limit reached before midnight at today's pace.

    Opens when the limit is forecast more than FORECAST_ALERT_MARGIN_MINUTES before midnight;
    an open alert holds while the limit is forecast before midnight at all (hysteresis), and
    the episode is the day: once closed, it does not open again before tomorrow. Not asked
    above CAPACITY_ALERT_PCT, where "Capacidade alta" tells the story (the caller's ``elif``).
    """
    if instance.status != Status.CONNECTED:
        return None
    day = instance_forecast(instance, periods).day
    if day.limit_at is None:
        return None
    local = timezone.localtime(day.limit_at)
    shown = local.replace(minute=local.minute - local.minute % FORECAST_STEP_MINUTES, second=0, microsecond=0)
    at = text.hour_minute(shown)
    margin = timedelta(minutes=settings.FORECAST_ALERT_MARGIN_MINUTES)
    return Condition(
        Rule.CAPACITY_FORECAST,
        Severity.WARNING,
        f"Instância {instance.name}: limite diário previsto às {at}",
        f"No ritmo de hoje, {_who(instance)} atinge o limite diário de {instance.capacity_per_day} mensagens "
        f"por volta das {at}, antes do fim do dia. Distribua os envios entre outras instâncias ou reduza o ritmo.",
        instance,
        since=day_start(periods.now),
        opens=periods.day_end - day.limit_at.timestamp() > margin.total_seconds(),
    )


def unstable_condition(instance: Instance, drops: list[datetime], now: datetime) -> Condition:
    """Fires at FLAP_DROPS drops within the window; any drop in the window keeps it firing."""
    window = settings.FLAP_WINDOW_MINUTES
    times = ", ".join(text.clock(at, now) for at in drops)
    return Condition(
        Rule.INSTANCE_UNSTABLE,
        Severity.WARNING,
        f"Instância {instance.name} instável",
        f"{_who(instance)} caiu {plural(len(drops), 'vez', 'vezes')} nos últimos {window} min ({times}); "
        f"agora {instance.get_status_display().lower()}. Os alertas de offline dela ficam reunidos aqui "
        f"até ela passar {window} min sem cair.",
        instance,
        opens=len(drops) >= settings.FLAP_DROPS,
    )


def fleet_conditions(fleet: Fleet, now: datetime) -> list[Condition]:
    found = []
    since = fleet.gateway_failing_since
    if since is not None and now - since >= timedelta(seconds=settings.GATEWAY_ALERT_AFTER_SECONDS):
        found.append(
            Condition(
                Rule.GATEWAY_UNREACHABLE,
                Severity.CRITICAL,
                "Gateway Evolution inacessível",
                f"O gateway não responde desde {text.moment(since)}: {fleet.gateway_error}. "
                "Os estados das instâncias não estão sendo atualizados.",
                since=since,
            )
        )
    found += monitor_conditions(fleet, now)
    dropped = fleet_drop(fleet.instances)
    if dropped is not None and now - dropped >= debounce():
        found.append(
            Condition(
                Rule.ALL_OFFLINE,
                Severity.CRITICAL,
                "SISTEMA CRÍTICO",
                "Nenhuma instância WhatsApp está online! Mensagens não serão enviadas. "
                f"{fleet_breakdown(fleet.instances)}; a última caiu em {text.moment(dropped)}.",
                since=dropped,
            )
        )
    return found


# How many refused rows an alert names; the rest are counted.
INVALID_ROWS_SHOWN = 5


def monitor_conditions(fleet: Fleet, now: datetime) -> list[Condition]:
    """The monitor's own troubles: the gateway sending rows it cannot store, the cache (Redis) gone."""
    found = []
    if fleet.invalid_rows:
        rows = fleet.invalid_rows
        shown = "; ".join(rows[:INVALID_ROWS_SHOWN])
        more = f"; e mais {len(rows) - INVALID_ROWS_SHOWN}" if len(rows) > INVALID_ROWS_SHOWN else ""
        found.append(
            Condition(
                Rule.GATEWAY_BAD_DATA,
                Severity.ERROR,
                "Dados inválidos do gateway",
                f"O gateway enviou {plural(len(rows), 'item inválido', 'itens inválidos')}, ignorados pelo monitor "
                f"(as demais instâncias seguem verificadas): {shown}{more}. Corrija no gateway (Evolution).",
            )
        )
    since = fleet.cache_failing_since
    if since is not None and now - since >= timedelta(seconds=settings.CACHE_ALERT_AFTER_SECONDS):
        found.append(
            Condition(
                Rule.CACHE_UNAVAILABLE,
                Severity.WARNING,
                "Cache indisponível",
                f"O Redis está inacessível desde {text.moment(since)} ({fleet.cache_error}). "
                "O estado dos circuitos passou para o banco de dados e o monitor segue verificando a frota; "
                "verifique o Redis.",
                since=since,
            )
        )
    return found


# How the fleet alert names the states of its numbers: (one, many).
STATE_WORDS: dict[str, tuple[str, str]] = {
    Status.DISCONNECTED: ("desconectada", "desconectadas"),
    Status.CONNECTING: ("conectando", "conectando"),
    Status.BANNED: ("banida", "banidas"),
    Status.UNKNOWN: ("sem leitura", "sem leitura"),
}


def fleet_breakdown(instances: list[Instance]) -> str:
    """Return "12 instâncias ativas: 9 desconectadas, 3 banidas"."""
    counts: dict[str, int] = defaultdict(int)
    for instance in instances:
        counts[instance.status] += 1
    parts = ", ".join(
        plural(count, *STATE_WORDS.get(status, (status, status)))
        for status, count in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"{plural(len(instances), 'instância ativa', 'instâncias ativas')}: {parts}"


def detect(now: datetime) -> tuple[Fleet, list[Condition]]:
    """Return the fleet as read and every condition that holds now."""
    fleet = Fleet.read(now)
    periods = Periods.of(now)
    found = [
        c
        for i in fleet.instances
        for c in instance_conditions(i, fleet.drops.get(i.pk, []), now, periods, fleet.ban_batches.get(i.pk))
    ]
    return fleet, found + fleet_conditions(fleet, now)
