"""Rule "Dados inválidos do gateway", end to end: the simulator serves rows the portal cannot store,
real cycles run, the alert names the rows in the log and on Slack, and closes once they are gone."""

from __future__ import annotations

import logging

import pytest

from alerts.choices import AlertState, Resolution, Rule, Severity
from alerts.models import Alert
from instances.models import Instance, Status
from instances.simulator import GatewaySimulator

LONG_NAME = "n" * 101
LONG_NUMBER = "1" * 33


@pytest.fixture
def gateway(simulated_fleet: GatewaySimulator, settings) -> GatewaySimulator:
    """Three numbers open on the simulated gateway and connected here, beside two bad rows."""
    settings.OFFLINE_DEBOUNCE_SECONDS = 0
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0
    simulated_fleet.add_instance(LONG_NAME, state="open")
    simulated_fleet.add_instance("zap-comprido", state="open", phone_number=LONG_NUMBER)
    return simulated_fleet


@pytest.mark.django_db
def test_bad_rows_raise_one_alert_naming_them_while_the_fleet_is_still_watched(
    gateway, fake_slack, caplog, cycle, client
) -> None:
    gateway.set_state("zap-02", "close")

    with caplog.at_level(logging.INFO, logger="alerts"):
        cycle()

    alert = Alert.objects.get(rule=Rule.GATEWAY_BAD_DATA)
    assert (alert.state, alert.severity, alert.title) == (
        AlertState.FIRING,
        Severity.ERROR,
        "Dados inválidos do gateway",
    )
    assert f"instância '{'n' * 40}…' (101 caracteres): nome com 101 caracteres (máximo 100)" in alert.message
    assert "instância 'zap-comprido': número com 33 dígitos (máximo 32)" in alert.message
    assert "[ALERTA] Dados inválidos do gateway: O gateway enviou 2 itens inválidos" in caplog.text
    fake_slack.wait_for(1)
    assert any("Dados inválidos do gateway" in p.text + p.blocks_text() for p in fake_slack.messages)
    # The rest of the fleet is read as usual: the closed number is seen closed and alerted.
    assert Instance.objects.get(name="zap-02").status == Status.DISCONNECTED
    assert Alert.objects.filter(rule=Rule.INSTANCE_OFFLINE, instance__name="zap-02").exists()
    health = client.get("/dashboard/health").json()
    assert health["checks"]["monitor"] is True and health["checks"]["gateway"] is True
    assert health["status"] == "healthy"

    cycle()
    assert Alert.objects.filter(rule=Rule.GATEWAY_BAD_DATA).count() == 1


@pytest.mark.django_db
def test_the_alert_closes_once_the_gateway_sends_no_bad_row(gateway, cycle) -> None:
    cycle()
    gateway.remove_instance(LONG_NAME)
    gateway.remove_instance("zap-comprido")

    cycle()

    alert = Alert.objects.get(rule=Rule.GATEWAY_BAD_DATA)
    assert (alert.state, alert.resolution) == (AlertState.RESOLVED, Resolution.CLEARED)


@pytest.mark.django_db
def test_a_gateway_outage_neither_closes_nor_reopens_the_alert(gateway, cycle) -> None:
    cycle()
    gateway.set_gateway_fault("http500")

    assert not cycle().gateway_ok

    assert Alert.objects.get(rule=Rule.GATEWAY_BAD_DATA).state == AlertState.FIRING
