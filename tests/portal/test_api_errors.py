"""The API's own contract: who is refused how, optional bodies, one JSON error shape, NUL input."""

from __future__ import annotations

import pytest
from django.test import Client

from alerts.choices import AlertState
from alerts.models import Alert
from instances.models import SentMessage, UsageBucket


@pytest.fixture
def alert(make_alert):
    return make_alert("zap-01")


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "errada", "revogada"])
def test_a_post_without_valid_credentials_is_401_not_a_csrf_failure(alert, api_key, key) -> None:
    from instances.models import ApiKey

    if key == "revogada":
        ApiKey.objects.update(is_active=False)
    headers = {"HTTP_X_API_KEY": api_key if key == "revogada" else key} if key else {}

    response = Client(enforce_csrf_checks=True).post(f"/dashboard/alerts/{alert.pk}/ack", **headers)

    assert response.status_code == 401
    assert response.json() == {"detail": "Não autenticado: envie o cabeçalho X-API-Key ou entre no portal."}
    assert response["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'
    assert Alert.objects.get().state == AlertState.FIRING


@pytest.mark.django_db
def test_a_session_post_still_needs_the_csrf_token_and_a_key_does_not(alert, operator, api_key) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)

    refused = browser.post(f"/dashboard/alerts/{alert.pk}/ack")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert Alert.objects.get().state == AlertState.FIRING

    keyed = Client(enforce_csrf_checks=True).post(f"/dashboard/alerts/{alert.pk}/ack", HTTP_X_API_KEY=api_key)
    assert keyed.status_code == 200


@pytest.mark.django_db
def test_ack_takes_no_body_at_all(alert, api_key) -> None:
    response = Client().generic("POST", f"/dashboard/alerts/{alert.pk}/ack", b"", HTTP_X_API_KEY=api_key)

    assert response.status_code == 200
    assert Alert.objects.get().state == AlertState.ACKNOWLEDGED


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["[null, null]", '"AAA"', "123", "null", '{"nota": 5}', '{"outra": "x"}'])
@pytest.mark.parametrize("action", ["ack", "resolve"])
def test_a_body_that_is_not_an_object_with_a_note_is_refused(alert, api_client, body, action) -> None:
    response = api_client.post(f"/dashboard/alerts/{alert.pk}/{action}", body, content_type="application/json")

    assert response.status_code == 422
    assert response.json()["detail"].startswith("Dados inválidos: ")
    assert response.json()["erros"]
    assert Alert.objects.get().state == AlertState.FIRING


@pytest.mark.django_db
def test_unknown_api_paths_and_wrong_methods_answer_json(api_client) -> None:
    missing = api_client.get("/dashboard/nao-existe")
    wrong_method = api_client.delete("/dashboard/instances")

    assert (missing.status_code, missing.json()) == (404, {"detail": "Endereço não encontrado na API."})
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Método não permitido neste endereço."}
    assert wrong_method["Allow"] == "GET"


@pytest.mark.django_db
def test_a_crash_inside_the_api_is_a_json_500(api_client, monkeypatch) -> None:
    def crash() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("instances.api.fleet_overview", crash)
    api_client.raise_request_exception = False

    response = api_client.get("/dashboard/instances")

    assert response.status_code == 500
    assert response.json() == {"detail": "Erro interno do servidor; o erro foi registrado."}


@pytest.mark.django_db
def test_validation_errors_keep_a_portuguese_sentence_with_the_details_beside(api_client) -> None:
    body = api_client.get("/dashboard/alerts?limite=abc&estado=pegando-fogo").json()

    assert body["detail"].startswith("Dados inválidos: ")
    assert "limite deve ser um número inteiro." in body["detail"]
    assert {e["campo"] for e in body["erros"]} == {"limite", "estado"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/dashboard/openapi.json", "/dashboard/docs"])
def test_the_schema_and_docs_open_with_a_key_and_not_with_a_wrong_one(api_key, path) -> None:
    assert Client().get(path, HTTP_X_API_KEY=api_key).status_code == 200
    assert Client().get(path, HTTP_X_API_KEY=api_key + "x").status_code == 401
    assert Client().get(path).status_code == 302


@pytest.mark.django_db
def test_the_schema_documents_every_error_an_operation_answers(api_client) -> None:
    paths = api_client.get("/dashboard/openapi.json").json()["paths"]

    ack = paths["/dashboard/alerts/{alert_id}/ack"]["post"]
    assert set(ack["responses"]) == {"200", "400", "401", "403", "404", "409", "422"}
    assert ack["requestBody"].get("required") is not True
    # Its filters are input: a bad one is a 422, a control character a 400.
    assert set(paths["/dashboard/instances"]["get"]["responses"]) == {"200", "400", "401", "422"}
    assert "401" not in paths["/dashboard/health"]["get"]["responses"]
    error = ack["responses"]["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Erro"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/dashboard/alerts?instancia=zap%0001", None),
        ("get", "/dashboard/instances/zap%0001", None),
        ("post", "/dashboard/instances/zap-01/uso", '{"id_mensagem": "abc\\u0000"}'),
        ("post", "/dashboard/alerts/{alert}/resolve", '{"nota": "ok\\u0000"}'),
        ("post", "/dashboard/alerts/{alert}/ack", '{"nota": "\\ud800"}'),
    ],
)
def test_nul_and_control_characters_are_a_400_and_change_nothing(api_client, alert, method, path, body) -> None:
    path = path.format(alert=alert.pk)
    response = api_client.get(path) if body is None else api_client.post(path, body, content_type="application/json")

    assert response.status_code == 400
    assert "inválid" in response.json()["detail"]  # from the address guard or the schema
    assert Alert.objects.get().state == AlertState.FIRING
    assert (UsageBucket.objects.count(), SentMessage.objects.count()) == (0, 0)
