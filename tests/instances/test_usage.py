"""POST /dashboard/instances/{nome}/uso: senders reporting their own sends."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils.crypto import get_random_string

from instances.models import ApiKey, Instance, SentMessage, UsageBucket
from julia_monitor.roles import assign_role

SP = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def instance(make_instance: Any) -> Any:
    return make_instance("zap-01")


def post(client: Client, payload: Any, *, key: str | None = None, name: str = "zap-01", **headers: str) -> Any:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    if key is not None:
        headers["X-API-Key"] = key
    return client.post(f"/dashboard/instances/{name}/uso", data=body, content_type="application/json", headers=headers)


def recorded() -> tuple[int, int]:
    return UsageBucket.objects.count(), SentMessage.objects.count()


def usage(response: Any) -> dict[str, Any]:
    return response.json()["uso"]


def logged_in(role: str | None, *, csrf: bool = False) -> tuple[Client, dict[str, str]]:
    """A client logged in as a person with ``role`` (None: no role at all), and the CSRF header to send."""
    client = Client(enforce_csrf_checks=csrf)
    user = User.objects.create_user(f"pessoa-{role}")
    if role:
        assign_role(user, role)
    client.force_login(user)
    if not csrf:
        return client, {}
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    return client, {"X-CSRFToken": token}


def test_it_counts_messages_reported_with_an_api_key(client, api_key, instance):
    response = post(client, {"quantidade": 3}, key=api_key)
    assert response.status_code == 200
    assert response.json() == {
        "instancia": "zap-01",
        "contabilizada": True,
        "quantidade": 3,
        "uso": {"msgs_hora": 3, "msgs_dia": 3, "carga_pct": 15.0},
    }


def test_it_counts_one_message_when_the_body_is_empty(client, api_key, instance):
    assert post(client, {}, key=api_key).json()["uso"]["msgs_hora"] == 1


def test_it_counts_a_message_id_once(client, api_key, instance):
    first = post(client, {"id_mensagem": "3EB0C5A2"}, key=api_key)
    replay = post(client, {"id_mensagem": "3EB0C5A2"}, key=api_key)
    assert first.json()["contabilizada"] is True
    assert replay.status_code == 200
    assert replay.json() == {
        "instancia": "zap-01",
        "contabilizada": False,
        "quantidade": 0,
        "uso": {"msgs_hora": 1, "msgs_dia": 1, "carga_pct": 5.0},
    }


def test_a_message_sent_in_an_earlier_hour_counts_only_for_the_day(client, api_key, instance):
    with time_machine.travel(datetime(2025, 10, 21, 11, 0, 5, tzinfo=SP), tick=False):
        response = post(client, {"quantidade": 2, "enviada_em": "2025-10-21T10:59:59-03:00"}, key=api_key)
        assert (usage(response)["msgs_hora"], usage(response)["msgs_dia"]) == (0, 2)
        response = post(client, {"enviada_em": "2025-10-21T14:00:00Z"}, key=api_key)  # 11:00 in São Paulo
        assert (usage(response)["msgs_hora"], usage(response)["msgs_dia"]) == (1, 3)


def test_it_refuses_a_request_without_a_key(client, instance):
    response = post(client, {"quantidade": 1})
    assert response.status_code == 401
    assert recorded() == (0, 0)


def test_it_refuses_a_wrong_key(client, api_key, instance):
    response = post(client, {"quantidade": 1}, key="jm_" + "x" * 43)
    assert response.status_code == 401
    assert recorded() == (0, 0)


def test_it_refuses_a_revoked_key(client, api_key, instance):
    ApiKey.objects.update(is_active=False)
    assert post(client, {"quantidade": 1}, key=api_key).status_code == 401


def test_an_operator_may_report_usage_from_a_session_with_a_csrf_token(db, instance):
    client, csrf = logged_in("operador", csrf=True)
    response = post(client, {"quantidade": 1}, **csrf)
    assert response.status_code == 200
    assert usage(response)["msgs_hora"] == 1


def test_an_administrator_may_report_usage_too(db, instance):
    client, _csrf = logged_in("administrador")
    assert post(client, {"quantidade": 2}).status_code == 200
    assert recorded() == (1, 0)


@pytest.mark.parametrize("role", ["visualizador", None])
def test_a_viewer_may_not_report_usage_and_nothing_is_counted(db, instance, role):
    client, csrf = logged_in(role, csrf=True)
    response = post(client, {"quantidade": 5}, **csrf)
    assert response.status_code == 403
    assert response.json() == {"detail": "Você não tem permissão para registrar mensagens enviadas."}
    assert recorded() == (0, 0)
    assert Instance.objects.with_usage().get(name="zap-01").msgs_day == 0


def test_a_viewer_learns_nothing_about_instances_from_a_refused_report(db, instance):
    client, _csrf = logged_in("visualizador")
    assert post(client, {"quantidade": 1}, name="zap-99").status_code == 403


def test_it_refuses_a_session_post_without_a_csrf_token(db, instance):
    client, _csrf = logged_in("operador", csrf=True)
    response = post(client, {"quantidade": 1})
    assert response.status_code == 403
    assert recorded() == (0, 0)


def test_a_keyed_post_needs_no_csrf_token(db, api_key, instance):
    response = post(Client(enforce_csrf_checks=True), {"quantidade": 1}, key=api_key)
    assert response.status_code == 200


def test_it_answers_404_for_an_unknown_instance(client, api_key, instance):
    response = post(client, {"quantidade": 1}, key=api_key, name="zap-99")
    assert response.status_code == 404
    assert response.json() == {"detail": "Instância não encontrada"}
    assert recorded() == (0, 0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"quantidade": 0}, "quantidade"),
        ({"quantidade": 1001}, "quantidade"),
        ({"quantidade": "5"}, "quantidade"),
        ({"quantidade": 2.5}, "quantidade"),
        ({"quantidade": True}, "quantidade"),
        ({"quantidade": 2, "id_mensagem": "ABC"}, "Com id_mensagem, quantidade deve ser 1"),
        ({"id_mensagem": ""}, "id_mensagem"),
        ({"id_mensagem": 12}, "id_mensagem"),
        ({"id_mensagem": "x" * 129}, "id_mensagem"),
        ({"enviada_em": "ontem"}, "enviada_em"),
        ({"enviada_em": "2025-10-21T10:00:00"}, "fuso"),  # naive: which time zone?
        ({"enviada_em": "2025-10-21T13:00:00-03:00"}, "futuro"),
        ({"enviada_em": "2025-10-01T10:00:00-03:00"}, "dias"),
        ({"quantity": 1}, "Campos desconhecidos: quantity"),
        ([{"quantidade": 1}], "objeto JSON"),
    ],
)
def test_it_rejects_invalid_input_and_records_nothing(client, api_key, instance, payload, message):
    with time_machine.travel(datetime(2025, 10, 21, 11, 0, tzinfo=SP), tick=False):
        response = post(client, payload, key=api_key)
    assert response.status_code == 422
    assert message in json.dumps(response.json()["detail"], ensure_ascii=False)
    assert recorded() == (0, 0)


@pytest.mark.parametrize("body", ["{not json", '"texto"'])
def test_it_rejects_a_body_that_is_not_a_json_object(client, api_key, instance, body):
    response = post(client, body, key=api_key)
    assert response.status_code in (400, 422)
    assert "detail" in response.json()
    assert recorded() == (0, 0)


def test_a_message_reported_here_and_by_the_webhook_counts_once(client, api_key, instance, settings):
    settings.EVOLUTION_WEBHOOK_SECRET = "segredo"
    event = {"event": "send.message", "instance": "zap-01", "data": {"key": {"id": "3EB0", "fromMe": True}}}
    client.post(
        "/webhooks/evolution",
        data=json.dumps(event),
        content_type="application/json",
        headers={"X-Webhook-Secret": "segredo"},
    )
    response = post(client, {"id_mensagem": "3EB0"}, key=api_key)
    assert response.json()["contabilizada"] is False
    assert usage(response)["msgs_dia"] == 1


def test_a_report_older_than_now_but_within_the_window_is_counted(client, api_key, instance):
    with time_machine.travel(datetime(2025, 10, 21, 11, 0, tzinfo=SP), tick=False):
        sent_at = (datetime(2025, 10, 21, 11, 0, tzinfo=SP) - timedelta(days=1)).isoformat()
        response = post(client, {"enviada_em": sent_at}, key=api_key)
    assert response.status_code == 200
    assert (usage(response)["msgs_hora"], usage(response)["msgs_dia"]) == (0, 0)
    assert UsageBucket.objects.get().hour == datetime(2025, 10, 20, 11, tzinfo=SP)
