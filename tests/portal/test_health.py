"""GET /dashboard/health: public, counts only, 503 when anything is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from instances.models import CheckCycle, Status
from julia_monitor.lib.circuits import CircuitBreaker


@pytest.fixture
def healthy_fleet(make_instance) -> None:
    make_instance("zap-01", status=Status.CONNECTED)
    make_instance("zap-02", status=Status.DISCONNECTED)
    now = timezone.now()
    CheckCycle.objects.create(started_at=now - timedelta(seconds=31), finished_at=now - timedelta(seconds=30))


@pytest.mark.django_db
def test_a_healthy_monitor_answers_200_with_every_check(client, healthy_fleet) -> None:
    response = client.get("/dashboard/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["checks"] == {
        "database": True,
        "instancias": True,
        "circuits": True,
        "redis": True,
        "monitor": True,
        "gateway": True,
    }
    assert body["details"]["instancias"] == "1/2 online"
    assert (body["details"]["instancias_online"], body["details"]["instancias_total"]) == (1, 2)
    assert body["details"]["circuits"] == "1/1 closed"
    assert body["details"]["circuitos"] == {"gateway": "closed"}


@pytest.mark.django_db
def test_no_instance_online_is_503(client, healthy_fleet) -> None:
    from instances.models import Instance

    Instance.objects.update(status=Status.DISCONNECTED)

    response = client.get("/dashboard/health")

    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["instancias"] is False
    assert response.json()["details"]["instancias"] == "0/2 online"


@pytest.mark.django_db
def test_an_instance_whose_reading_went_stale_is_not_online(client, healthy_fleet, settings) -> None:
    from instances.models import Instance

    Instance.objects.update(last_read_at=timezone.now() - timedelta(seconds=settings.STATUS_STALE_AFTER_SECONDS + 1))

    body = client.get("/dashboard/health").json()

    assert body["checks"]["instancias"] is False
    assert body["details"]["instancias"] == "0/2 online"


@pytest.mark.django_db
def test_an_open_circuit_is_503(client, healthy_fleet, settings) -> None:
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    gateway = CircuitBreaker("gateway")
    gateway.record_failure("connection refused")
    gateway.record_failure("connection refused")

    response = client.get("/dashboard/health")

    assert response.status_code == 503
    assert response.json()["checks"]["circuits"] is False
    assert response.json()["details"]["circuits"] == "0/1 closed"
    assert response.json()["details"]["circuitos"] == {"gateway": "open"}


@pytest.mark.django_db
def test_a_stale_monitor_is_503(client, healthy_fleet, settings) -> None:
    CheckCycle.objects.update(finished_at=timezone.now() - timedelta(seconds=settings.MONITOR_STALE_AFTER_SECONDS + 5))

    response = client.get("/dashboard/health")

    assert response.status_code == 503
    assert response.json()["checks"]["monitor"] is False


@pytest.mark.django_db
def test_a_monitor_that_never_ran_is_503(client, make_instance) -> None:
    make_instance("zap-01")

    body = client.get("/dashboard/health").json()

    assert body["checks"]["monitor"] is False
    assert body["details"]["ultimo_ciclo"] is None


@pytest.mark.django_db
def test_an_unreachable_redis_is_503(client, healthy_fleet, settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/dashboard/health")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"] is False


@pytest.mark.django_db
def test_health_reveals_no_instance_names(client, healthy_fleet) -> None:
    assert b"zap-0" not in client.get("/dashboard/health").content


@pytest.mark.django_db
def test_a_broken_slack_channel_is_an_open_circuit(client, healthy_fleet, settings) -> None:
    from alerts.choices import Channel
    from alerts.models import ChannelStatus

    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"
    ChannelStatus.objects.create(channel=Channel.SLACK, broken_at=timezone.now(), broken_reason="404 no_service")

    response = client.get("/dashboard/health")

    assert response.status_code == 503
    assert response.json()["details"]["circuits"] == "1/2 closed"
    assert response.json()["details"]["circuitos"] == {"gateway": "closed", "slack": "open"}


@pytest.mark.django_db
def test_email_failing_in_a_row_is_an_open_circuit(client, healthy_fleet, settings) -> None:
    from alerts.choices import Channel
    from alerts.models import ChannelStatus

    settings.ALERT_EMAILS = ["ops@example.com"]
    ChannelStatus.objects.create(channel=Channel.EMAIL, consecutive_failures=settings.CIRCUIT_FAILURE_THRESHOLD)

    body = client.get("/dashboard/health").json()

    assert body["checks"]["circuits"] is False
    assert body["details"]["circuitos"]["email"] == "open"


@pytest.mark.django_db
def test_unconfigured_channels_are_not_circuits(client, healthy_fleet) -> None:
    assert client.get("/dashboard/health").json()["details"]["circuitos"] == {"gateway": "closed"}


@pytest.mark.django_db
def test_a_cycle_that_could_not_reach_the_gateway_fails_health_before_any_circuit_opens(client, healthy_fleet) -> None:
    now = timezone.now()
    CheckCycle.objects.create(
        started_at=now - timedelta(seconds=2), finished_at=now - timedelta(seconds=1), gateway_ok=False
    )

    response = client.get("/dashboard/health")

    assert response.status_code == 503
    body = response.json()
    assert (body["checks"]["gateway"], body["checks"]["circuits"]) == (False, True)
    assert body["details"]["gateway"] == "não respondeu"


@pytest.mark.django_db
def test_the_gateway_check_follows_the_newest_finished_cycle(client, healthy_fleet) -> None:
    now = timezone.now()
    CheckCycle.objects.create(
        started_at=now - timedelta(seconds=20), finished_at=now - timedelta(seconds=19), gateway_ok=False
    )
    CheckCycle.objects.create(started_at=now - timedelta(seconds=2), finished_at=now - timedelta(seconds=1))
    CheckCycle.objects.create(started_at=now, gateway_ok=False)  # still running: not a verdict yet

    body = client.get("/dashboard/health").json()

    assert body["checks"]["gateway"] is True
    assert body["status"] == "healthy"


@pytest.mark.django_db
def test_with_no_cycle_yet_the_gateway_is_not_blamed(client, make_instance) -> None:
    make_instance("zap-01")

    body = client.get("/dashboard/health").json()

    assert (body["checks"]["gateway"], body["checks"]["monitor"]) == (True, False)
