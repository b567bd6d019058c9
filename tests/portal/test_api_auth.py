"""Who may read the /dashboard API: an API key, a login session; health is public."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from instances.models import ApiKey


@pytest.mark.django_db
def test_without_a_key_the_api_answers_401(client) -> None:
    response = client.get("/dashboard/instances")

    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.django_db
def test_a_wrong_key_is_401(client, api_key) -> None:
    response = client.get("/dashboard/instances", HTTP_X_API_KEY=api_key + "x")

    assert response.status_code == 401


@pytest.mark.django_db
def test_a_revoked_key_is_401(client, api_key) -> None:
    ApiKey.objects.update(is_active=False)

    assert client.get("/dashboard/instances", HTTP_X_API_KEY=api_key).status_code == 401


@pytest.mark.django_db
def test_a_valid_key_works_and_is_marked_used(client, api_key) -> None:
    response = client.get("/dashboard/instances", HTTP_X_API_KEY=api_key)

    assert response.status_code == 200
    assert ApiKey.objects.get().last_used_at is not None


@pytest.mark.django_db
def test_a_login_session_works(client, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_user("operadora", password="x"))

    assert client.get("/dashboard/instances").status_code == 200
    assert client.get("/dashboard/instances/nao-existe").status_code == 404


@pytest.mark.django_db
def test_health_is_open_without_a_login(client) -> None:
    response = client.get("/dashboard/health")

    assert response.status_code in (200, 503)
    assert response.json()["status"] in ("healthy", "degraded")


@pytest.mark.django_db
def test_keys_are_stored_hashed(api_key) -> None:
    stored = ApiKey.objects.get()

    assert api_key not in (stored.key_hash, stored.prefix)
    assert ApiKey.authenticate(api_key) == stored


@pytest.mark.django_db
def test_create_api_key_prints_a_working_key_once(capsys) -> None:
    call_command("create_api_key", "integracao-crm")

    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert Client().get("/dashboard/instances", HTTP_X_API_KEY=secret).status_code == 200


@pytest.mark.django_db
def test_create_api_key_refuses_a_duplicate_name(api_key) -> None:
    with pytest.raises(CommandError, match="Já existe"):
        call_command("create_api_key", "testes")

    assert ApiKey.objects.count() == 1


@pytest.mark.django_db
def test_a_key_created_in_the_admin_is_shown_once_and_works(admin_client) -> None:
    response = admin_client.post("/admin/instances/apikey/add/", {"name": "painel-tv", "is_active": "on"}, follow=True)

    secret = response.context["secret"]
    assert '<code id="api-key-secret"' in response.content.decode() and secret in response.content.decode()
    assert ApiKey.objects.get(name="painel-tv").key_hash != secret
    assert Client().get("/dashboard/instances", HTTP_X_API_KEY=secret).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/dashboard/docs", "/dashboard/openapi.json"])
def test_the_api_docs_need_a_login(client, path) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/entrar/?next=")


@pytest.mark.django_db
def test_refusals_are_explained_in_portuguese(client, api_key) -> None:
    anonymous = client.get("/dashboard/instances")
    garbage = client.post(
        "/dashboard/alerts/1/ack", "{não é json", content_type="application/json", HTTP_X_API_KEY=api_key
    )

    assert anonymous.json() == {"detail": "Não autenticado: envie o cabeçalho X-API-Key ou entre no portal."}
    assert (garbage.status_code, garbage.json()) == (400, {"detail": "O corpo da requisição não é um JSON válido."})
