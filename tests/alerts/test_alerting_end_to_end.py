"""Spec S6.E3.2, end to end: the gateway simulator changes a state, a cycle runs, and a real
local Slack, a real local SMTP server and the log receive the alert."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from django_q.models import Schedule

from alerts.choices import AlertState, Rule
from alerts.models import Alert
from instances.checks import run_cycle
from instances.models import Instance, Status
from instances.simulator import GatewaySimulator

SECRET = "segredo-do-webhook"


@pytest.fixture
def gateway(simulated_fleet: GatewaySimulator, settings) -> GatewaySimulator:
    """Three numbers open on the simulated gateway and known (connected) to the portal."""
    settings.EVOLUTION_WEBHOOK_SECRET = SECRET
    settings.OFFLINE_DEBOUNCE_SECONDS = 0
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0
    return simulated_fleet


@pytest.fixture
def cycle(worker) -> Callable[[], None]:
    """One check cycle as the every-minute schedule runs it, then the alert task it queues."""

    def run() -> None:
        with worker():
            assert run_cycle().gateway_ok

    return run


def posts_about(slack, name: str) -> list:
    return [p for p in slack.messages if name in p.text or name in p.blocks_text()]


@pytest.mark.django_db
def test_an_instance_that_goes_offline_is_posted_to_slack_and_logged(gateway, fake_slack, caplog, cycle) -> None:
    gateway.set_state("zap-01", "close")
    with caplog.at_level(logging.INFO, logger="alerts"):
        cycle()

    fake_slack.wait_for(1)
    assert "Instância zap-01 offline" in posts_about(fake_slack, "zap-01")[0].text
    assert "[ALERTA] Instância zap-01 offline:" in caplog.text
    assert Instance.objects.get(name="zap-01").status == Status.DISCONNECTED


@pytest.mark.django_db
def test_a_ban_is_posted_to_slack_and_emailed(gateway, fake_slack, smtp_server, caplog, cycle) -> None:
    gateway.set_state("zap-02", "close", code=403)
    with caplog.at_level(logging.INFO, logger="alerts"):
        cycle()

    fake_slack.wait_for(1)
    email = smtp_server.wait_for(1)[0]
    assert "Instância zap-02 BANIDA" in fake_slack.messages[0].text
    assert "zap-02" in email.subject and "BANIDA" in email.subject
    assert sorted(email.rcpt_tos) == ["ops@example.com", "plantao@example.com"]
    assert "[ALERTA] Instância zap-02 BANIDA:" in caplog.text
    assert Alert.objects.get(rule=Rule.INSTANCE_BANNED).severity == "critical"


@pytest.mark.django_db
def test_capacity_over_80_percent_warns_once(gateway, fake_slack, worker, client, caplog, cycle) -> None:
    for n in range(17):  # 17 of 20 this hour: 85 %
        envelope = {
            "event": "send.message",
            "instance": "zap-03",
            "data": {"key": {"id": f"3EB0{n:04}", "fromMe": True, "remoteJid": "5511988887777@s.whatsapp.net"}},
        }
        with worker():
            client.post("/webhooks/evolution", envelope, content_type="application/json", HTTP_X_WEBHOOK_SECRET=SECRET)
    with caplog.at_level(logging.INFO, logger="alerts"):
        cycle()
        cycle()

    fake_slack.wait_for(1)
    assert [p.text for p in posts_about(fake_slack, "zap-03")] == [fake_slack.messages[0].text]
    assert "Capacidade alta: zap-03" in fake_slack.messages[0].text
    assert "[ALERTA] Capacidade alta: zap-03:" in caplog.text
    assert Alert.objects.get(rule=Rule.CAPACITY_HIGH).occurrences == 2


@pytest.mark.django_db
def test_all_offline_is_one_urgent_critical_message(gateway, fake_slack, caplog, cycle) -> None:
    for name in ("zap-01", "zap-02", "zap-03"):
        gateway.set_state(name, "close")
    with caplog.at_level(logging.INFO, logger="alerts"):
        cycle()

    posts = fake_slack.wait_for(1)
    assert len(posts) == 1  # the fleet alert, with the instances inside it, not four posts
    assert posts[0].text.startswith("<!channel>")
    assert "SISTEMA CRÍTICO" in posts[0].text
    assert caplog.text.count("[ALERTA]") == 4
    assert Alert.objects.get(rule=Rule.ALL_OFFLINE).severity == "critical"


@pytest.mark.django_db
def test_every_alert_gets_its_resolution_message(gateway, fake_slack, cycle) -> None:
    gateway.set_state("zap-01", "close")
    cycle()
    fake_slack.wait_for(1)

    gateway.set_state("zap-01", "open")
    cycle()

    resolution = fake_slack.wait_for(2)[1]
    assert "Resolvido" in resolution.text and "zap-01" in resolution.text
    assert Alert.objects.get().state == AlertState.RESOLVED


@pytest.mark.django_db
def test_a_close_reported_by_webhook_is_posted_at_once(gateway, fake_slack, worker, client) -> None:
    envelope = {
        "event": "connection.update",
        "instance": "zap-02",
        "data": {"instance": "zap-02", "state": "close", "statusReason": 401},
    }

    with worker():
        response = client.post(
            "/webhooks/evolution", envelope, content_type="application/json", HTTP_X_WEBHOOK_SECRET=SECRET
        )

    assert response.status_code == 200
    assert "Instância zap-02 offline" in fake_slack.wait_for(1)[0].text


@pytest.mark.django_db
def test_the_check_and_the_delivery_run_every_minute() -> None:
    schedules = {s.name: s for s in Schedule.objects.all()}

    for name, func in (
        ("check-instances", "instances.tasks.check_instances"),
        ("deliver-notifications", "alerts.tasks.deliver_notifications"),
    ):
        assert (schedules[name].func, schedules[name].schedule_type, schedules[name].minutes) == (
            func,
            Schedule.MINUTES,
            1,
        )
        assert schedules[name].repeats == -1
