"""Redis down is survivable: the cycle keeps reading the fleet, circuit state falls back to the
database, health says why Redis failed without waiting on it twice, and "Cache indisponível" fires
after its debounce and closes when Redis is back. Real sockets: a closed port, a port that never
answers, and a real ``redis-server`` stopped and started mid-test."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import caches
from django.utils import timezone

from alerts.choices import AlertState, Resolution, Rule, Severity
from alerts.models import Alert
from instances.checks import run_cycle
from instances.models import CheckCycle, Instance, Status
from instances.simulator import GatewaySimulator
from julia_monitor.lib.circuits import CircuitBreaker, CircuitState
from julia_monitor.lib.failover_cache import failover_caches, forget_failures
from tests.fakes.common import closed_port


def use_redis(settings, url: str) -> None:
    """Configure the caches exactly as production does for a Redis at ``url``."""
    settings.REDIS_URL = url
    settings.CACHES = failover_caches(url, {"socket_connect_timeout": 1, "socket_timeout": 1})
    forget_failures()


@pytest.fixture
def gateway(simulated_fleet: GatewaySimulator) -> GatewaySimulator:
    return simulated_fleet


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a Redis hung, or behind a dead link."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.django_db
def test_with_redis_refused_the_cycle_reads_the_fleet_and_says_why(gateway, settings, cycle) -> None:
    use_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")
    gateway.set_state("zap-02", "close")

    started = time.monotonic()
    summary = cycle()

    assert time.monotonic() - started < 1.5
    assert summary.gateway_ok
    assert Instance.objects.get(name="zap-02").status == Status.DISCONNECTED
    assert Instance.objects.get(name="zap-01").last_read_at is not None
    last = CheckCycle.objects.get()
    assert (last.cache_ok, last.cache_error) == (False, "conexão com o Redis recusada")


@pytest.mark.django_db
def test_with_redis_down_the_gateway_circuit_opens_and_closes_through_the_database(gateway, settings, client) -> None:
    use_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")
    gateway.set_gateway_fault("http500")

    for _ in range(settings.CIRCUIT_FAILURE_THRESHOLD):
        assert not run_cycle().gateway_ok

    assert CircuitBreaker("gateway").snapshot().state() == CircuitState.OPEN
    assert caches["database"].get("circuit:gateway")["failures"] == settings.CIRCUIT_FAILURE_THRESHOLD
    assert client.get("/dashboard/health").json()["details"]["circuitos"] == {"gateway": "open"}
    gateway.set_gateway_fault(None)
    assert run_cycle(force=True).gateway_ok
    assert CircuitBreaker("gateway").snapshot().state() == CircuitState.CLOSED


@pytest.mark.django_db
def test_health_says_redis_is_down_and_why_at_once(gateway, settings, client) -> None:
    use_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")
    run_cycle()

    started = time.monotonic()
    response = client.get("/dashboard/health")

    assert time.monotonic() - started < 1.0
    body = response.json()
    # Degraded, as every failed check makes it: the portal works, but production lost its Redis.
    assert (response.status_code, body["status"]) == (503, "degraded")
    assert body["checks"]["redis"] is False
    assert body["details"]["redis"] == "conexão com o Redis recusada; estado dos circuitos no banco de dados"
    assert (body["checks"]["circuits"], body["checks"]["monitor"], body["checks"]["instancias"]) == (True, True, True)


@pytest.mark.django_db
def test_a_redis_that_never_answers_costs_one_timeout_not_one_per_call(gateway, settings, client, silent_port) -> None:
    use_redis(settings, f"redis://127.0.0.1:{silent_port}/0")
    gateway.set_state("zap-03", "close")

    started = time.monotonic()
    summary = run_cycle()
    cycle_seconds = time.monotonic() - started
    started = time.monotonic()
    response = client.get("/dashboard/health")
    health_seconds = time.monotonic() - started

    # One 1 s socket timeout for the cycle (its circuit reads and writes then use the database),
    # and none for health in the same process: it already knows Redis is down.
    assert cycle_seconds < 2.5
    assert health_seconds < 0.5
    assert summary.gateway_ok
    assert Instance.objects.get(name="zap-03").status == Status.DISCONNECTED
    assert CheckCycle.objects.get().cache_error == "Redis não respondeu a tempo"
    assert response.json()["details"]["redis"].startswith("Redis não respondeu a tempo")


@pytest.mark.django_db
def test_cache_unavailable_fires_after_the_debounce_and_closes_when_redis_returns(
    gateway, settings, cycle, redis_server, caplog, client
) -> None:
    use_redis(settings, redis_server.url)
    settings.CACHE_ALERT_AFTER_SECONDS = 60
    settings.CACHE_RETRY_SECONDS = 0  # each call asks Redis again: the return is noticed at once
    with time_machine.travel(timezone.now()) as clock:
        assert cycle().cache_error == ""
        assert client.get("/dashboard/health").json()["checks"]["redis"] is True

        redis_server.stop()
        assert cycle().cache_error == "conexão com o Redis recusada"
        assert not Alert.objects.filter(rule=Rule.CACHE_UNAVAILABLE).exists()

        clock.shift(timedelta(seconds=61))
        gateway.set_state("zap-01", "close")
        cycle()
        alert = Alert.objects.get(rule=Rule.CACHE_UNAVAILABLE)
        assert (alert.state, alert.severity, alert.title) == (AlertState.FIRING, Severity.WARNING, "Cache indisponível")
        assert "O Redis está inacessível desde" in alert.message
        assert "O estado dos circuitos passou para o banco de dados" in alert.message
        assert "[ALERTA] Cache indisponível:" in caplog.text
        # Meanwhile the fleet is still watched.
        assert Instance.objects.get(name="zap-01").status == Status.DISCONNECTED

        redis_server.start()
        clock.shift(timedelta(seconds=60))
        assert cycle().cache_error == ""

    alert.refresh_from_db()
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, Resolution.CLEARED)


@pytest.mark.django_db
def test_the_worker_keeps_its_cluster_stats_in_memory_and_logs_the_outage_once(settings, caplog) -> None:
    from django_q.brokers import get_broker

    use_redis(settings, f"redis://127.0.0.1:{closed_port()}/0")
    broker = get_broker()

    for n in range(20):  # django-q2's guard loop saves its stats twice a second
        broker.set_stat("cluster-1", f"estado {n}", 3)

    assert broker.get_stat("cluster-1") == "estado 19"
    assert len([r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]) == 1
