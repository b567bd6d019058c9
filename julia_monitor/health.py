"""The aggregated health check behind the public ``GET /dashboard/health``.

It reveals only counts and states, never names of instances or errors. ``details`` speaks
the product's format first (``"8/12 online"``, ``"1/1 closed"``), the numbers behind it beside.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja import Status as Response

from alerts.models import ChannelStatus
from alerts.overview import channel_circuits as circuits_of
from alerts.overview import remote_channel_names
from instances.models import CheckCycle, Instance
from julia_monitor.lib.circuits import CircuitState, circuit_states
from julia_monitor.lib.failover_cache import redis_problem
from julia_monitor.worker_health import heartbeat_only, monitor_pulse

logger = logging.getLogger(__name__)
router = Router(tags=["saúde"])


@dataclass
class HealthReport:
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(self.checks.values())


def check_database(report: HealthReport) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        report.checks["database"] = True
    except DatabaseError as exc:
        # One line, not a traceback: a load balancer probes every few seconds during an outage.
        logger.error("health: database check failed: %s", (str(exc).splitlines() or [type(exc).__name__])[0])
        report.checks["database"] = False


def check_instances(report: HealthReport, now: datetime) -> None:
    """At least one active instance is online by a fresh reading (a stale one is unknown)."""
    try:
        active = Instance.objects.active()
        total = active.count()
        online = active.online(now).count()
    except DatabaseError:
        report.checks["instancias"] = False
        report.details["instancias"] = "?/? online"
        return
    report.checks["instancias"] = online >= 1
    report.details.update(instancias=f"{online}/{total} online", instancias_online=online, instancias_total=total)


def channel_circuits(now: datetime) -> dict[str, CircuitState]:
    """Return each configured remote channel (Slack, email) as a circuit, as delivery last saw it."""
    return circuits_of(ChannelStatus.objects.filter(channel__in=remote_channel_names()), now)


def check_circuits(report: HealthReport, now: datetime) -> None:
    try:
        states = {**circuit_states(), **channel_circuits(now)}
    except Exception:  # the shared cache or the database may be what is down
        logger.exception("health: could not read circuit state")
        report.checks["circuits"] = False
        report.details["circuits"] = "?/? closed"
        return
    closed = sum(1 for state in states.values() if state == CircuitState.CLOSED)
    report.checks["circuits"] = closed == len(states)
    report.details["circuits"] = f"{closed}/{len(states)} closed"
    report.details["circuitos"] = {name: str(state) for name, state in states.items()}


def check_redis(report: HealthReport) -> None:
    """Ping Redis (one timeout at most: a failure is remembered, so the circuits read their fallback at once).

    Redis down makes health "degraded" (503) as the specification computes it, every check
    counting: the portal keeps working on its fallback, but a production setup without its
    Redis needs a person, and this is the signal an uptime check watches.
    """
    if not settings.REDIS_URL:
        report.checks["redis"] = True
        report.details["redis"] = "não configurado"
        return
    problem = redis_problem(settings.REDIS_URL)
    report.checks["redis"] = not problem
    if problem:
        report.details["redis"] = f"{problem}; estado dos circuitos no banco de dados"


def check_monitor_and_gateway(report: HealthReport, now: datetime) -> None:
    """The check cycle must have finished recently (or nobody is watching the fleet), and its
    newest run must have reached the gateway: one failed cycle is enough, before any circuit opens.

    With CHECK_SHARDS above 1, every shard must have finished recently ("ultimo_ciclo" is the
    stalest shard's last finish) and "fatias" says how many did. The worker's own health rides
    along in ``details`` (the same query): a dead worker already fails ``monitor`` through the
    stale cycle, so it is not a check of its own.
    """
    shards = settings.CHECK_SHARDS
    try:
        pulse = monitor_pulse(now)
        by_shard = CheckCycle.shard_finishes(shards) if shards > 1 else {}
    except DatabaseError:
        report.checks["monitor"] = False
        report.checks["gateway"] = False
        report.details["worker"] = heartbeat_only(now).details(now)
        return
    last = pulse.cycle
    if not by_shard:
        finished = last.finished_at if last else None
    else:
        finished = CheckCycle.all_covered_at(by_shard)
        # With shards the monitor is as fresh as its stalest shard; each one's last finish is shown.
        fresh = sum(1 for at in by_shard.values() if not CheckCycle.is_stale(at, now))
        report.details["fatias"] = f"{fresh}/{shards} em dia"
        report.details["fatias_ultimo_ciclo"] = {
            str(k): timezone.localtime(at).isoformat() if at is not None else None for k, at in by_shard.items()
        }
    age = (now - finished).total_seconds() if finished is not None else None
    report.checks["monitor"] = not CheckCycle.is_stale(finished, now)
    report.details["ultimo_ciclo"] = timezone.localtime(finished).isoformat() if finished is not None else None
    report.details["ultimo_ciclo_ha_segundos"] = round(age) if age is not None else None
    # No cycle yet says nothing about the gateway; the monitor check already fails for it.
    report.checks["gateway"] = last is None or last.gateway_ok
    report.details["gateway"] = None if last is None else ("respondeu" if last.gateway_ok else "não respondeu")
    report.details["worker"] = pulse.worker.details(now)


def run_health_checks(now: datetime | None = None) -> HealthReport:
    report = HealthReport()
    now = now or timezone.now()
    check_database(report)
    check_redis(report)  # before the circuits: a Redis found down is not waited for again
    if report.checks["database"]:
        check_instances(report, now)
        check_circuits(report, now)
        check_monitor_and_gateway(report, now)
    else:
        # Each of these reads the database: asking a database that did not answer again would
        # only make a load balancer's probe wait once more per check.
        report.checks.update(instancias=False, circuits=False, monitor=False, gateway=False)
        report.details["worker"] = heartbeat_only(now).details(now)  # the cache, not the database
    return report


class HealthOut(Schema):
    status: str
    timestamp: datetime
    checks: dict[str, bool]
    details: dict[str, object]


@router.get("/health", auth=None, response={200: HealthOut, 503: HealthOut}, summary="Saúde do monitor (público)")
def health(request: HttpRequest) -> Response:
    now = timezone.now()
    report = run_health_checks(now)
    body = {
        "status": "healthy" if report.healthy else "degraded",
        "timestamp": timezone.localtime(now),
        "checks": report.checks,
        "details": report.details,
    }
    return Response(200 if report.healthy else 503, body)
