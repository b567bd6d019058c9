"""``GET /metrics``: the fleet, the alerts and the monitor itself for Prometheus (docs/metrics.md).

One collector in a private registry reads the current state when Prometheus scrapes: no
counters kept in the web processes (gunicorn runs several, each would count its own share), and
a constant number of queries whatever the fleet's size: the fleet with its usage (one),
the alerting side (one, ``alerts.overview``) and the monitor's pulse (one,
``julia_monitor.worker_health``); circuits and the worker's heartbeat come from the cache.

The endpoint exists only when it can be used: with ``METRICS_TOKEN`` set or an active API key.
Otherwise it is a 404 like any unknown address.

Always Prometheus' text format, even when a scraper prefers OpenMetrics (Prometheus does, by
default, and reads both): there is nothing here OpenMetrics would add (gauges only, no
exemplars), and its encoder takes about a third longer over a fleet's thousands of series.
"""

from __future__ import annotations

import hmac
import tomllib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from functools import cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from alerts.choices import Channel
from alerts.overview import AlertingOverview, alerting_overview
from instances.fleet import FleetOverview, fleet_overview
from instances.models import ApiKey, Status
from julia_monitor.api_errors import API_KEY_HEADER
from julia_monitor.lib.circuits import CircuitState, circuit_states
from julia_monitor.worker_health import MonitorPulse, monitor_pulse

UNAUTHORIZED = "Credenciais ausentes ou inválidas: envie Authorization: Bearer <METRICS_TOKEN> ou uma chave de API."
INSTANCE = ["instance_name"]  # not "instance": Prometheus sets that label itself on every scraped series


@cache
def version() -> str:
    with open(settings.BASE_DIR / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def age(since: datetime, now: datetime) -> float:
    return max((now - since).total_seconds(), 0.0)


def fleet_families(fleet: FleetOverview, alerting: AlertingOverview, now: datetime) -> Iterator[Metric]:
    rows = fleet.instances
    statuses = list(Status.values)
    by_status = Counter(r.shown_status for r in rows)
    count = gauge("julia_instances", "Instâncias ativas por status mostrado", ["status"])
    for status in statuses:
        count.add_metric([status], by_status[status])
    shown = gauge("julia_instance_status", "1 no status mostrado da instância, 0 nos demais", [*INSTANCE, "status"])
    load = gauge("julia_instance_load_ratio", "Carga da instância (o limite que pesa mais), de 0 a 1", INSTANCE)
    hour = gauge("julia_instance_messages_this_hour", "Mensagens enviadas na hora corrente", INSTANCE)
    day = gauge("julia_instance_messages_today", "Mensagens enviadas hoje (horário de São Paulo)", INSTANCE)
    per_hour = gauge("julia_instance_capacity_per_hour", "Capacidade por hora", INSTANCE)
    per_day = gauge("julia_instance_capacity_per_day", "Capacidade por dia", INSTANCE)
    reading = gauge("julia_instance_last_reading_age_seconds", "Segundos desde a última leitura do gateway", INSTANCE)
    maintenance = gauge("julia_instance_in_maintenance", "1 durante uma janela de manutenção", INSTANCE)
    for r in rows:
        name = [r.name]
        for status in statuses:
            shown.add_metric([r.name, status], 1 if r.shown_status == status else 0)
        load.add_metric(name, r.load_pct / 100)
        hour.add_metric(name, r.msgs_hour)
        day.add_metric(name, r.msgs_day)
        per_hour.add_metric(name, r.capacity_per_hour)
        per_day.add_metric(name, r.capacity_per_day)
        if r.last_read_at is not None:
            reading.add_metric(name, age(r.last_read_at, now))
        maintenance.add_metric(name, 1 if alerting.in_maintenance(r.pk) else 0)
    yield from (count, shown, load, hour, day, per_hour, per_day, reading, maintenance)


def alerting_families(alerting: AlertingOverview, now: datetime) -> Iterator[Metric]:
    alerts = gauge("julia_alerts_open", "Alertas abertos (disparados ou reconhecidos)", ["rule", "severity"])
    for (rule, severity), n in sorted(alerting.open_alerts.items()):
        alerts.add_metric([rule, severity], n)
    pending = gauge("julia_notifications_pending", "Notificações esperando entrega", ["channel"])
    failed = gauge("julia_notifications_failed", "Notificações que falharam de vez", ["channel"])
    oldest = gauge(
        "julia_notifications_oldest_pending_age_seconds", "Idade da notificação pendente mais antiga", ["channel"]
    )
    for channel in Channel.values:
        backlog = alerting.outbox.get(channel)
        pending.add_metric([channel], backlog.pending if backlog else 0)
        failed.add_metric([channel], backlog.failed if backlog else 0)
        since = backlog.oldest_pending_at if backlog else None
        oldest.add_metric([channel], age(since, now) if since else 0)
    yield from (alerts, pending, failed, oldest)


def monitor_families(pulse: MonitorPulse, circuits: dict[str, CircuitState], now: datetime) -> Iterator[Metric]:
    duration = gauge("julia_check_cycle_duration_seconds", "Duração do último ciclo de verificação terminado")
    finished = gauge("julia_check_cycle_last_finish_timestamp_seconds", "Quando o último ciclo terminou (Unix)")
    probes = gauge("julia_check_cycle_probes_failed", "Verificações que falharam no último ciclo")
    gateway = gauge("julia_check_cycle_gateway_ok", "1 se o último ciclo alcançou o gateway")
    cycle = pulse.cycle
    if cycle is not None and cycle.finished_at is not None:
        duration.add_metric([], age(cycle.started_at, cycle.finished_at))
        finished.add_metric([], cycle.finished_at.timestamp())
        probes.add_metric([], cycle.failures)
        gateway.add_metric([], 1 if cycle.gateway_ok else 0)
    yield from (duration, finished, probes, gateway)

    state = gauge("julia_circuit_state", "1 no estado atual do circuito", ["circuit", "state"])
    for circuit, current in circuits.items():
        for option in CircuitState.values:
            state.add_metric([circuit, option], 1 if current == option else 0)
    yield state

    worker = pulse.worker
    yield GaugeMetricFamily("julia_worker_up", "1 se o sinal do worker (django-q2) é recente", value=int(worker.alive))
    heartbeat = gauge("julia_worker_last_heartbeat_age_seconds", "Segundos desde o último sinal do worker")
    beat = worker.heartbeat_age(now)
    if beat is not None:
        heartbeat.add_metric([], beat)
    yield heartbeat
    queue = gauge("julia_task_queue_length", "Tarefas na fila, ainda não pegas")
    if worker.queued is not None:  # unknown while the Redis broker does not answer: no sample, not 0
        queue.add_metric([], worker.queued)
    yield queue
    oldest = gauge("julia_task_queue_oldest_age_seconds", "Idade da tarefa mais antiga na fila")
    if worker.queue_age_known:  # the Redis broker's tasks carry no time
        oldest.add_metric([], worker.oldest_queued_age(now))
    yield oldest
    failed = worker.failed_last_hour or 0
    yield GaugeMetricFamily("julia_tasks_failed_last_hour", "Tarefas que falharam na última hora", value=failed)
    build = gauge("julia_build_info", "Versão do Julia Monitor", ["version"])
    build.add_metric([version()], 1)
    yield build


class PortalCollector(Collector):
    """Everything /metrics says, read when Prometheus asks."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        fleet = fleet_overview(now)
        alerting = alerting_overview(now)
        pulse = monitor_pulse(now)
        circuits = {**circuit_states(), **alerting.channel_circuits}
        yield from fleet_families(fleet, alerting, now)
        yield from alerting_families(alerting, now)
        yield from monitor_families(pulse, circuits, now)


# auto_describe=False: registering does not call collect(), so importing this module reads nothing.
registry = CollectorRegistry(auto_describe=False)
registry.register(PortalCollector())


def presented_credential(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(API_KEY_HEADER, "").strip()


def is_token(credential: str) -> bool:
    token = settings.METRICS_TOKEN
    return bool(token) and hmac.compare_digest(credential.encode(), token.encode())


def unauthorized() -> HttpResponse:
    response = HttpResponse(UNAUTHORIZED, status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = "Bearer"
    return response


def is_on() -> bool:
    """Return True when someone can scrape: a token is configured or an API key is active."""
    return bool(settings.METRICS_TOKEN) or ApiKey.objects.filter(is_active=True).exists()


@csrf_exempt  # a scraper's GET; no session, no form: CSRF would only turn other methods into 403s
def metrics(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        if not is_on():
            raise Http404
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    credential = presented_credential(request)
    # The token costs no query; an API key one (the same check as the JSON API's).
    if credential and (is_token(credential) or ApiKey.authenticate(credential) is not None):
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    if not is_on():
        raise Http404  # off: as if the address did not exist
    return unauthorized()
