"""An instance's page: status, usage chart, uptime and history, Reconnect and the state endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils.timezone import now as timezone_now

from alerts.choices import AlertState, Rule, Severity
from instances.models import Doctor, Instance, OperatorAction, Status, StatusChange
from tests.fakes.common import closed_port
from tests.instances.support import (
    API_KEY,
    NOW,
    attr,
    find,
    find_all,
    find_all_in,
    text,
)


@pytest.fixture
def gateway(gateway, settings) -> object:
    """The folder's simulated gateway (tests/instances/conftest.py), with a 1 s probe timeout."""
    settings.EVOLUTION_TIMEOUT = 1.0
    return gateway


@pytest.fixture
def dropped(gateway, make_instance) -> Instance:
    """zap-01: disconnected here and closed on the gateway (it logged out: 401)."""
    gateway.add_instance("zap-01", state="close", disconnection_code=401)
    return make_instance("zap-01", status=Status.DISCONNECTED, disconnection_reason="sessão encerrada (401)")


# --- Who may see and do what ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_viewer_who_posts_reconnect_anyway_gets_403_and_nothing_changes(as_viewer, dropped, gateway) -> None:
    response = as_viewer.post("/instancias/zap-01/reconectar")

    assert response.status_code == 403
    assert gateway.request_count("/instance/connect") == 0
    assert not OperatorAction.objects.exists()
    assert Instance.objects.get(name="zap-01").status == Status.DISCONNECTED


@pytest.mark.django_db
def test_only_someone_allowed_to_reconnect_sees_the_button(as_viewer, operator, dropped) -> None:
    assert not find_all(as_viewer.get("/instancias/zap-01/").content, "data-action", "reconnect")
    assert "peça a um operador" in as_viewer.get("/instancias/zap-01/").content.decode()

    as_viewer.force_login(operator)
    button = find(as_viewer.get("/instancias/zap-01/").content, "data-action", "reconnect")
    assert text(button) == "Reconectar"


@pytest.mark.django_db
def test_a_connected_instance_offers_no_reconnect(as_operator, make_instance) -> None:
    make_instance("zap-01", status=Status.CONNECTED)

    assert not find_all(as_operator.get("/instancias/zap-01/").content, "data-action", "reconnect")


@pytest.mark.django_db
def test_reconnect_is_post_only_and_needs_the_csrf_token(operator, dropped, gateway) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(operator)

    assert strict.get("/instancias/zap-01/reconectar").status_code == 405
    assert strict.post("/instancias/zap-01/reconectar").status_code == 403
    assert gateway.request_count("/instance/connect") == 0
    assert not OperatorAction.objects.exists()


# --- The instance page --------------------------------------------------------------------------------


@pytest.fixture
def history(make_instance, make_alert) -> Instance:
    """zap-01, created 10 days ago: down for 3 h of the last day, and once 5 days ago for 12 h."""
    with time_machine.travel(NOW - timedelta(days=10), tick=False):
        zap = make_instance("zap-01", status=Status.CONNECTED, status_since=NOW - timedelta(hours=3), last_read_at=NOW)
    for hours_ago, old, new, reason in [
        (9 * 24, Status.UNKNOWN, Status.CONNECTED, ""),  # before the 7-day window
        (5 * 24, Status.CONNECTED, Status.DISCONNECTED, "conexão encerrada (428)"),
        (5 * 24 - 12, Status.DISCONNECTED, Status.CONNECTED, ""),
        (6, Status.CONNECTED, Status.DISCONNECTED, "sessão encerrada no aparelho (401): precisa de novo QR"),
        (3, Status.DISCONNECTED, Status.CONNECTED, ""),
    ]:
        StatusChange.objects.create(
            instance=zap, old_status=old, new_status=new, reason=reason, created_at=NOW - timedelta(hours=hours_ago)
        )
    for hours_ago, count in [(0, 4), (1, 20), (5, 7), (23, 2), (30, 9)]:
        zap.record_sent(count=count, at=NOW - timedelta(hours=hours_ago))
    Doctor.objects.create(name="Dra. Ana Souza", preferred_instance=zap)
    Doctor.objects.create(name="Dr. Bruno Lima", preferred_instance=zap)
    make_alert(
        "zap-01",
        rule=Rule.INSTANCE_OFFLINE,
        severity=Severity.ERROR,
        state=AlertState.RESOLVED,
        title="Instância zap-01 offline (antigo)",
        first_seen_at=NOW - timedelta(hours=6),
    )
    make_alert(
        "zap-01",
        rule=Rule.CAPACITY_HIGH,
        severity=Severity.WARNING,
        title="Capacidade alta: zap-01",
        first_seen_at=NOW - timedelta(hours=1),
    )
    return zap


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_instance_page_shows_status_since_when_and_usage(as_viewer, history) -> None:
    page = as_viewer.get("/instancias/zap-01/").content

    assert text(find(page, "id", "instance-status-badge")) == "🟢 Conectada"
    assert "desde 25/11/2026 11:30 (há 3 h)" in text(find(page, "class", "status-line"))
    meters = [text(m) for m in find_all(page, "class", "meter")]
    assert meters == ["4/20", "31/100"]  # this hour; today since 00:00 in São Paulo (4 + 20 + 7)
    assert text(find(page, "data-field", "load")) == "31.0%"  # the day binds first
    doctors = [text(d) for d in find_all(page, "data-doctor")]
    assert doctors == ["Dr. Bruno Lima", "Dra. Ana Souza"]
    alerts = [(attr(a, "data-state"), text(a.children[1])) for a in find_all(page, "data-alert")]
    assert alerts == [("firing", "Capacidade alta: zap-01"), ("resolved", "Instância zap-01 offline (antigo)")]
    firing = find(page, "data-state", "firing")
    assert attr(find_all_in(firing, "href")[0], "href") == f"/alertas/{attr(firing, 'data-alert')}/"
    assert attr(find(page, "id", "alert-log-link"), "href") == "/alertas/?instancia=zap-01"


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_chart_has_one_bar_per_hour_matching_the_usage(as_viewer, history) -> None:
    page = as_viewer.get("/instancias/zap-01/").content

    chart = find(page, "data-chart", "usage-24h")
    bars = find_all(page, "class", "hour")
    expected = history.usage_by_hour(24, NOW)
    assert [int(attr(bar, "data-count")) for bar in bars] == [count for _hour, count in expected]
    assert attr(bars[-1], "data-hour") == "2026-11-25T14:00-03:00"
    assert text(bars[-2]) == "25/11 13h: 20 mensagens (limite 20)"  # the hover <title>
    assert (attr(chart, "role"), attr(chart, "viewbox"), attr(chart, "width")) == ("img", "0 0 480 190", "100%")
    assert attr(chart, "aria-label") == (
        "Mensagens por hora nas últimas 24 horas: 33 mensagens no total, pico de 20 às 13h; limite de 20 por hora."
    )
    labels = [text(label) for label in find_all(page, "class", "hour-label")]
    assert labels == ["15h", "18h", "21h", "00h", "03h", "06h", "09h", "12h"]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_it_shows_uptime_and_the_week_of_status_changes_newest_first(as_viewer, history) -> None:
    page = as_viewer.get("/instancias/zap-01/").content

    assert text(find(page, "data-uptime", "24h")) == "87.5% nas últimas 24 horas · fora do ar 3 h"
    assert text(find(page, "data-uptime", "7d")) == "91.1% nos últimos 7 dias · fora do ar 15 h"  # 153 of 168 h
    changes = [text(li) for li in find_all(page, "data-change")]
    assert changes == [
        "25/11 11:30 Desconectada → Conectada",
        "25/11 08:30 Conectada → Desconectada sessão encerrada no aparelho (401): precisa de novo QR",
        "21/11 02:30 Desconectada → Conectada",
        "20/11 14:30 Conectada → Desconectada conexão encerrada (428)",
    ]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_stale_reading_is_shown_unknown_with_when_it_was_last_read(as_viewer, make_instance) -> None:
    make_instance(
        "zap-01",
        status=Status.CONNECTED,
        status_since=NOW - timedelta(hours=3),
        last_read_at=NOW - timedelta(minutes=10),
    )

    page = as_viewer.get("/instancias/zap-01/").content

    assert text(find(page, "id", "instance-status-badge")) == "❓ Desconhecida"
    assert attr(find(page, "class", "card status-area"), "data-status") == "unknown"
    assert text(find(page, "data-field", "stale")) == "sem leitura desde 14:20"
    assert text(find(page, "data-field", "last-known")) == "Último status lido: Conectada (desde 25/11/2026 11:30)."
    assert text(find(page, "data-field", "last-read")) == "há 10 min"


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_fresh_reading_says_since_when_and_no_stale_note(as_viewer, make_instance) -> None:
    make_instance("zap-01", status=Status.CONNECTED, status_since=NOW - timedelta(hours=3))

    page = as_viewer.get("/instancias/zap-01/").content

    assert text(find(page, "id", "instance-status-badge")) == "🟢 Conectada"
    assert not find_all(page, "data-field", "stale")
    assert not find_all(page, "data-field", "down-since")


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_reason_for_the_status_and_the_outage_clock_are_shown(as_viewer, make_instance) -> None:
    make_instance(
        "zap-01",
        status=Status.DISCONNECTED,
        status_reason="o gateway não lista mais esta instância",
        down_since=NOW - timedelta(hours=2),
    )

    page = as_viewer.get("/instancias/zap-01/").content

    assert text(find(page, "id", "instance-status-badge")) == "🔴 Desconectada"
    assert text(find(page, "data-field", "reason")) == "Motivo: o gateway não lista mais esta instância"
    assert text(find(page, "data-field", "down-since")) == "25/11 12:30 (há 2 h)"


@pytest.mark.django_db
def test_an_operator_may_reconnect_an_instance_whose_reading_is_stale(as_operator, make_instance) -> None:
    make_instance("zap-01", status=Status.CONNECTED, last_read_at=timezone_now() - timedelta(hours=1))

    assert find_all(as_operator.get("/instancias/zap-01/").content, "data-action", "reconnect")


@pytest.mark.django_db
def test_an_unknown_instance_gets_a_404_page(as_viewer) -> None:
    response = as_viewer.get("/instancias/nao-existe/")

    assert response.status_code == 404
    assert "Não existe instância chamada “nao-existe”" in response.content.decode()
    assert as_viewer.get("/instancias/nao-existe/estado").status_code == 404
    assert as_viewer.get("/instancias/nao-existe/parcial").status_code == 404


# --- Reconnect, against the gateway simulator ---------------------------------------------------------


@pytest.mark.django_db
def test_an_operator_reconnects_and_sees_the_qr_code(as_operator, operator, dropped, gateway) -> None:
    response = as_operator.post("/instancias/zap-01/reconectar")

    assert response.status_code == 302
    assert response["Location"] == "/instancias/zap-01/#reconnect"
    assert gateway.request_count("/instance/connect/zap-01") == 1
    action = OperatorAction.objects.get()
    assert (action.kind, action.user, action.instance, action.detail) == (
        OperatorAction.Kind.RECONNECT,
        operator,
        dropped,
        "QR code gerado (n.º 1)",
    )
    assert timezone_now() - action.created_at < timedelta(seconds=30)
    page = as_operator.get(response["Location"]).content
    qr = find(page, "id", "reconnect-qr")
    assert attr(qr, "src").startswith("data:image/png;base64,")
    assert attr(qr, "alt") == "QR code para conectar a instância zap-01 ao WhatsApp"
    box = find(page, "id", "reconnect")
    assert (attr(box, "data-reconnect-pending"), attr(box, "data-state-url")) == ("true", "/instancias/zap-01/estado")
    audit = text(find(page, "data-operator-action", "reconnect"))
    assert "operadora Pediu reconexão QR code gerado (n.º 1)" in audit
    # The code is shown once: a reload never asks the gateway for another one.
    assert not find_all(as_operator.get("/instancias/zap-01/").content, "id", "reconnect-qr")
    assert gateway.request_count("/instance/connect") == 1


@pytest.mark.django_db
def test_a_gateway_that_cannot_be_reached_gets_a_clear_message_and_is_recorded_as_failed(
    as_operator, dropped, settings
) -> None:
    settings.EVOLUTION_API_URL = f"http://127.0.0.1:{closed_port()}"

    page = as_operator.post("/instancias/zap-01/reconectar", follow=True).content.decode()

    assert "Não foi possível falar com o gateway (gateway inacessível). Nada foi alterado" in page
    assert 'id="reconnect-qr"' not in page
    assert OperatorAction.objects.get().detail.startswith("falhou: gateway inacessível")
    assert Instance.objects.get(name="zap-01").status == Status.DISCONNECTED


@pytest.mark.django_db
def test_a_gateway_error_answer_is_not_taken_for_a_qr_code(as_operator, dropped, gateway) -> None:
    gateway.set_fault("zap-01", "error_body")

    page = as_operator.post("/instancias/zap-01/reconectar", follow=True).content.decode()

    assert "O gateway recusou a reconexão de zap-01: gateway respondeu com erro" in page
    assert 'id="reconnect-qr"' not in page
    assert OperatorAction.objects.get().detail.startswith("falhou: gateway respondeu com erro")


@pytest.mark.django_db
def test_reconnecting_an_instance_the_gateway_says_is_open_records_it_connected(as_operator, dropped, gateway) -> None:
    gateway.set_state("zap-01", "open")

    page = as_operator.post("/instancias/zap-01/reconectar", follow=True).content.decode()

    assert "zap-01 já está conectada." in page
    assert Instance.objects.get(name="zap-01").status == Status.CONNECTED
    assert OperatorAction.objects.get().detail == "já estava conectada"


@pytest.mark.django_db
def test_the_state_endpoint_notices_the_instance_is_back_without_waiting_for_the_cycle(
    as_viewer, dropped, gateway
) -> None:
    assert as_viewer.get("/instancias/zap-01/estado").json()["status"] == "disconnected"
    gateway.set_state("zap-01", "open")

    with time_machine.travel(timezone_now() + timedelta(seconds=6)):
        body = as_viewer.get("/instancias/zap-01/estado").json()

    assert body == {
        "status": "connected",
        "status_display": "Conectada",
        "emoji": "🟢",
        "desde": body["desde"],
        "motivo": "",
    }
    change = StatusChange.objects.get(instance=dropped)
    assert (change.old_status, change.new_status) == ("disconnected", "connected")
    assert text(find(as_viewer.get("/instancias/zap-01/parcial").content, "id", "instance-status-badge")) == (
        "🟢 Conectada"
    )


@pytest.mark.django_db
def test_the_state_endpoint_asks_the_gateway_at_most_once_every_few_seconds(as_viewer, dropped, gateway) -> None:
    for _ in range(3):
        as_viewer.get("/instancias/zap-01/estado")

    assert gateway.request_count("/instance/connectionState/zap-01") == 1


@pytest.mark.django_db
def test_the_state_endpoint_answers_from_the_database_when_the_gateway_is_down(as_viewer, dropped, settings) -> None:
    settings.EVOLUTION_API_URL = f"http://127.0.0.1:{closed_port()}"

    body = as_viewer.get("/instancias/zap-01/estado").json()

    assert body["status"] == "disconnected"
    assert Instance.objects.get(name="zap-01").consecutive_failures == 0  # the cycle owns failure counts


@pytest.mark.django_db
def test_the_state_endpoint_reports_a_stale_reading_as_unknown(as_viewer, make_instance, settings) -> None:
    settings.EVOLUTION_API_URL = f"http://127.0.0.1:{closed_port()}"
    settings.EVOLUTION_API_KEY = API_KEY
    make_instance("zap-01", status=Status.CONNECTED, last_read_at=timezone_now() - timedelta(minutes=10))

    body = as_viewer.get("/instancias/zap-01/estado").json()

    assert (body["status"], body["status_display"], body["emoji"]) == ("unknown", "Desconhecida", "❓")
    assert body["motivo"].startswith("sem leitura desde ")
