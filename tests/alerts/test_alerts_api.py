"""Alert history and acknowledgement through the API and the admin, with permissions."""

from __future__ import annotations

import pytest

from alerts.choices import AlertState, EventKind, Rule, Severity
from alerts.models import Alert


@pytest.fixture
def alert(make_instance) -> Alert:
    instance = make_instance("zap-01")
    return Alert.objects.create(
        rule=Rule.INSTANCE_OFFLINE,
        severity=Severity.ERROR,
        instance=instance,
        key=f"{Rule.INSTANCE_OFFLINE}:{instance.pk}",
        title="Instância zap-01 offline",
        message="zap-01 está desconectada.",
    )


@pytest.mark.django_db
def test_the_history_lists_open_alerts_first_with_filters(api_client, alert, make_instance) -> None:
    old = Alert.objects.create(
        rule=Rule.CAPACITY_HIGH,
        severity=Severity.WARNING,
        key="capacity_high:x",
        title="Capacidade alta: zap-02",
        message="…",
        state=AlertState.RESOLVED,
    )

    everything = api_client.get("/dashboard/alerts").json()
    warnings = api_client.get("/dashboard/alerts?severidade=warning").json()
    for_zap = api_client.get("/dashboard/alerts?instancia=zap-01&estado=firing").json()

    assert [a["id"] for a in everything] == [alert.pk, old.pk]
    assert [a["id"] for a in warnings] == [old.pk]
    assert [a["titulo"] for a in for_zap] == ["Instância zap-01 offline"]
    assert everything[0]["instancia"] == "zap-01" and everything[0]["estado"] == "firing"


@pytest.mark.django_db
def test_a_bad_filter_is_a_clear_4xx(api_client, alert) -> None:
    response = api_client.get("/dashboard/alerts?estado=pegando-fogo")

    assert response.status_code == 422
    assert "detail" in response.json()


@pytest.mark.django_db
def test_acknowledging_with_a_key_records_it_in_the_timeline(api_client, alert) -> None:
    response = api_client.post(
        f"/dashboard/alerts/{alert.pk}/ack", {"nota": "olhando"}, content_type="application/json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["estado"] == "acknowledged"
    assert body["linha_do_tempo"][-1]["evento"] == "Reconhecido"
    assert body["linha_do_tempo"][-1]["detalhe"] == "via chave de API testes: olhando"


@pytest.mark.django_db
def test_an_operator_acknowledges_and_resolves_with_a_session(client, alert, operator) -> None:
    client.force_login(operator)

    ack = client.post(f"/dashboard/alerts/{alert.pk}/ack")
    resolve = client.post(f"/dashboard/alerts/{alert.pk}/resolve")

    assert (ack.status_code, resolve.status_code) == (200, 200)
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.resolved_by, alert.state) == (operator, operator, AlertState.RESOLVED)
    assert list(alert.events.values_list("kind", "actor__username")) == [
        (EventKind.ACKNOWLEDGED, "operadora"),
        (EventKind.RESOLVED, "operadora"),
    ]


@pytest.mark.django_db
def test_a_viewer_cannot_acknowledge(client, alert, viewer) -> None:
    client.force_login(viewer)

    response = client.post(f"/dashboard/alerts/{alert.pk}/ack")

    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [{}, {"HTTP_X_API_KEY": "errada"}])
def test_a_logged_out_user_or_a_wrong_key_cannot_acknowledge(client, alert, headers) -> None:
    response = client.post(f"/dashboard/alerts/{alert.pk}/ack", **headers)

    assert response.status_code in (401, 403)
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING and not alert.events.exists()


@pytest.mark.django_db
def test_acknowledging_twice_is_a_conflict_and_changes_nothing(api_client, alert) -> None:
    api_client.post(f"/dashboard/alerts/{alert.pk}/ack")

    again = api_client.post(f"/dashboard/alerts/{alert.pk}/ack")

    assert again.status_code == 409
    assert alert.events.filter(kind=EventKind.ACKNOWLEDGED).count() == 1


@pytest.mark.django_db
def test_an_unknown_alert_is_a_json_404(api_client) -> None:
    response = api_client.post("/dashboard/alerts/999999/ack")

    assert response.status_code == 404
    assert response.json() == {"detail": "Alerta não encontrado"}


@pytest.mark.django_db
def test_the_admin_acknowledges_many_at_once(admin_client, admin_user, alert) -> None:
    other = Alert.objects.create(
        rule=Rule.GATEWAY_UNREACHABLE,
        severity=Severity.CRITICAL,
        key="gateway_unreachable:frota",
        title="Gateway Evolution inacessível",
        message="…",
    )

    response = admin_client.post(
        "/admin/alerts/alert/", {"action": "acknowledge", "_selected_action": [alert.pk, other.pk]}, follow=True
    )

    assert response.status_code == 200
    assert set(Alert.objects.values_list("state", "acknowledged_by")) == {(AlertState.ACKNOWLEDGED, admin_user.pk)}


@pytest.mark.django_db
def test_the_admin_shows_an_alert_with_its_timeline(admin_client, alert) -> None:
    alert.acknowledge(None, note="em análise")

    page = admin_client.get(f"/admin/alerts/alert/{alert.pk}/change/")

    assert page.status_code == 200
    assert "em análise" in page.content.decode()
    assert "linha do tempo" in page.content.decode().lower()
