"""The aggregated health check behind the public ``GET /dashboard/health``.

It reveals only counts and states, never names of instances or errors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja import Status as Response

from alerts.models import channel_circuits
from instances.models import CheckCycle, Instance, Status
from julia_monitor.circuits import CircuitState, circuit_states

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
    except DatabaseError:
        logger.exception("health: database check failed")
        report.checks["database"] = False


def check_instances(report: HealthReport) -> None:
    try:
        active = Instance.objects.active()
        total = active.count()
        online = active.filter(status=Status.CONNECTED).count()
    except DatabaseError:
        report.checks["instancias"] = False
        return
    report.checks["instancias"] = online >= 1
    report.details.update(instancias_online=online, instancias_total=total)


def check_circuits(report: HealthReport) -> None:
    try:
        states = {**circuit_states(), **channel_circuits()}
    except Exception:  # the shared cache or the database may be what is down
        logger.exception("health: could not read circuit state")
        report.checks["circuits"] = False
        return
    report.checks["circuits"] = all(state == CircuitState.CLOSED for state in states.values())
    report.details["circuits"] = {name: str(state) for name, state in states.items()}


def check_redis(report: HealthReport) -> None:
    if not settings.REDIS_URL:
        report.checks["redis"] = True
        report.details["redis"] = "não configurado"
        return
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        report.checks["redis"] = True
    except redis.RedisError:
        report.checks["redis"] = False


def check_monitor(report: HealthReport, now: datetime) -> None:
    """The check cycle itself must have finished recently, or nobody is watching the fleet."""
    try:
        last = CheckCycle.last_finished()
    except DatabaseError:
        report.checks["monitor"] = False
        return
    age = (now - last.finished_at).total_seconds() if last else None
    report.checks["monitor"] = not CheckCycle.is_stale(last.finished_at if last else None, now)
    report.details["ultimo_ciclo"] = timezone.localtime(last.finished_at).isoformat() if last else None
    report.details["ultimo_ciclo_ha_segundos"] = round(age) if age is not None else None


def run_health_checks(now: datetime | None = None) -> HealthReport:
    report = HealthReport()
    now = now or timezone.now()
    check_database(report)
    check_instances(report)
    check_circuits(report)
    check_redis(report)
    check_monitor(report, now)
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
        "status": "healthy" if report.healthy else "unhealthy",
        "timestamp": timezone.localtime(now),
        "checks": report.checks,
        "details": report.details,
    }
    return Response(200 if report.healthy else 503, body)
