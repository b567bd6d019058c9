"""The worker's own health, told the same by /dashboard/health (details) and /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.tasks import async_task

from instances.models import CheckCycle
from julia_monitor import health
from tests.portal.metrics_support import TOKEN, beat, failed_task, scrape, values

NOW = datetime(2026, 3, 10, 17, 30, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cycle_and_token(settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    CheckCycle.objects.create(started_at=NOW - timedelta(seconds=40), finished_at=NOW - timedelta(seconds=30))


def worker_in_health(client) -> dict:
    with time_machine.travel(NOW, tick=False):
        return client.get("/dashboard/health").json()["details"]["worker"]


def worker_in_metrics(client) -> dict[str, dict]:
    with time_machine.travel(NOW, tick=False):
        families = scrape(client)
    names = ("julia_worker_up", "julia_worker_last_heartbeat_age_seconds", "julia_task_queue_length")
    names += ("julia_task_queue_oldest_age_seconds", "julia_tasks_failed_last_hour")
    return {name: values(families[name]) for name in names}


def test_a_cluster_beating_now_is_alive(client) -> None:
    beat(NOW - timedelta(seconds=2))

    assert worker_in_health(client) == {
        "ativo": True,
        "ultimo_sinal_ha_segundos": 2,
        "fila": 0,
        "tarefa_mais_antiga_ha_segundos": 0,
        "falhas_ultima_hora": 0,
    }
    metrics = worker_in_metrics(client)
    assert metrics["julia_worker_up"] == {(): 1}
    assert metrics["julia_worker_last_heartbeat_age_seconds"] == {(): 2}


def test_no_cluster_ever_seen_is_not_alive_and_has_no_heartbeat_age(client) -> None:
    worker = worker_in_health(client)

    assert (worker["ativo"], worker["ultimo_sinal_ha_segundos"]) == (False, None)
    metrics = worker_in_metrics(client)
    assert metrics["julia_worker_up"] == {(): 0}
    assert metrics["julia_worker_last_heartbeat_age_seconds"] == {}


def test_a_heartbeat_older_than_ten_seconds_is_a_dead_worker(client) -> None:
    beat(NOW - timedelta(seconds=11))

    assert worker_in_health(client)["ativo"] is False
    assert worker_in_metrics(client)["julia_worker_up"] == {(): 0}
    assert worker_in_metrics(client)["julia_worker_last_heartbeat_age_seconds"] == {(): 11}


def test_the_last_heartbeat_is_remembered_after_django_q_lets_it_expire(client) -> None:
    with time_machine.travel(NOW - timedelta(minutes=5), tick=False):
        beat(NOW - timedelta(minutes=5), ttl=3)  # django-q2's own 3 seconds
        client.get("/dashboard/health")  # seen while the cluster ran

    worker = worker_in_health(client)  # five minutes later: the cluster's status is gone from the cache

    assert (worker["ativo"], worker["ultimo_sinal_ha_segundos"]) == (False, 300)
    assert worker_in_metrics(client)["julia_worker_last_heartbeat_age_seconds"] == {(): 300}


def test_a_stopped_cluster_is_not_a_heartbeat(client) -> None:
    beat(NOW - timedelta(seconds=1), status=Conf.STOPPED)

    assert worker_in_health(client)["ativo"] is False


def test_a_queued_task_tells_its_age_and_a_taken_one_is_not_queued(client) -> None:
    with time_machine.travel(NOW - timedelta(seconds=45), tick=False):
        async_task("math.floor", 1.5)
    with time_machine.travel(NOW - timedelta(seconds=5), tick=False):
        async_task("math.floor", 2.5)
        taken = OrmQ.objects.latest("pk")
    # Taken by a worker: the ORM broker moves its lock ``retry`` seconds ahead.
    OrmQ.objects.filter(pk=taken.pk).update(lock=NOW + timedelta(seconds=60))

    worker = worker_in_health(client)

    assert (worker["fila"], worker["tarefa_mais_antiga_ha_segundos"]) == (1, 45)
    metrics = worker_in_metrics(client)
    assert metrics["julia_task_queue_length"] == {(): 1}
    assert metrics["julia_task_queue_oldest_age_seconds"] == {(): 45}


def test_only_tasks_failed_in_the_last_hour_are_counted(client) -> None:
    failed_task(NOW - timedelta(minutes=59))
    failed_task(NOW - timedelta(minutes=61))

    assert worker_in_health(client)["falhas_ultima_hora"] == 1
    assert worker_in_metrics(client)["julia_tasks_failed_last_hour"] == {(): 1}


def test_a_dead_worker_is_a_detail_not_a_new_check(client) -> None:
    with time_machine.travel(NOW, tick=False):
        body = client.get("/dashboard/health").json()

    assert set(body["checks"]) == {"database", "instancias", "circuits", "redis", "monitor", "gateway"}
    assert body["details"]["worker"]["ativo"] is False


def test_with_the_database_lost_health_says_the_heartbeat_without_asking_it_again(
    client, monkeypatch, django_assert_num_queries
) -> None:
    beat(NOW - timedelta(seconds=1))

    def lost(report: health.HealthReport) -> None:
        report.checks["database"] = False

    monkeypatch.setattr(health, "check_database", lost)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(0):
        report = health.run_health_checks()

    assert report.checks["monitor"] is False
    assert report.details["worker"] == {
        "ativo": True,
        "ultimo_sinal_ha_segundos": 1,
        "fila": None,
        "tarefa_mais_antiga_ha_segundos": None,
        "falhas_ultima_hora": None,
    }


def test_the_cycle_the_queue_and_the_failures_are_one_query(client, django_assert_num_queries) -> None:
    beat(NOW - timedelta(seconds=1))
    failed_task(NOW - timedelta(minutes=5))
    with time_machine.travel(NOW - timedelta(seconds=20), tick=False):
        async_task("math.floor", 1.5)

    report = health.HealthReport()
    with django_assert_num_queries(1):
        health.check_monitor_and_gateway(report, NOW)

    assert report.checks == {"monitor": True, "gateway": True}
    assert report.details["worker"] == {
        "ativo": True,
        "ultimo_sinal_ha_segundos": 1,
        "fila": 1,
        "tarefa_mais_antiga_ha_segundos": 20,
        "falhas_ultima_hora": 1,
    }


@pytest.fixture
def redis_broker(monkeypatch) -> str:
    """django-q2 on its Redis broker, as production runs with REDIS_URL (a Redis db of its own, emptied)."""
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", url)
    yield url
    redis.Redis.from_url(url).flushdb()


def test_on_the_redis_broker_the_queue_is_read_from_redis_and_its_age_is_not_made_up(
    client, settings, redis_broker
) -> None:
    settings.REDIS_URL = redis_broker
    async_task("math.floor", 1.5)
    async_task("math.floor", 2.5)

    worker = worker_in_health(client)

    assert (worker["fila"], worker["tarefa_mais_antiga_ha_segundos"]) == (2, None)
    assert not OrmQ.objects.exists()
    metrics = worker_in_metrics(client)
    assert metrics["julia_task_queue_length"] == {(): 2}
    assert metrics["julia_task_queue_oldest_age_seconds"] == {}  # unknown, not 0


def test_on_the_redis_broker_a_redis_that_is_down_leaves_the_queue_unknown(client, settings, monkeypatch) -> None:
    from tests.fakes.common import closed_port

    url = f"redis://127.0.0.1:{closed_port()}/0"
    settings.REDIS_URL = url
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", url)

    worker = worker_in_health(client)

    assert (worker["fila"], worker["tarefa_mais_antiga_ha_segundos"]) == (None, None)
    metrics = worker_in_metrics(client)
    assert metrics["julia_task_queue_length"] == {}  # unknown, not an empty queue
