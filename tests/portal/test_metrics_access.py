"""Who may scrape /metrics: METRICS_TOKEN or an API key; nobody at all while neither exists."""

from __future__ import annotations

import pytest

from instances.models import ApiKey
from tests.portal.metrics_support import TOKEN
from tests.portal.test_settings import PRODUCTION, manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def test_without_a_token_or_an_api_key_metrics_does_not_exist(client) -> None:
    unknown = client.get("/nao-existe")

    for response in (
        client.get("/metrics"),
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer qualquer-coisa"),
        client.get("/metrics", HTTP_X_API_KEY="jm_qualquer"),
        client.post("/metrics"),
    ):
        assert response.status_code == 404
        assert response["Content-Type"] == unknown["Content-Type"]
        assert "WWW-Authenticate" not in response


def test_a_revoked_key_alone_leaves_metrics_off(client, api_key) -> None:
    ApiKey.objects.update(is_active=False)

    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {api_key}").status_code == 404


def test_the_token_as_a_bearer_scrapes(client, token) -> None:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"julia_instances{" in response.content


def test_prometheus_asking_for_openmetrics_gets_the_text_format_it_also_reads(client, token) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT=accept)

    assert response["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
    assert b"# EOF" not in response.content


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_AUTHORIZATION": "Bearer errado"}, {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}, {"HTTP_X_API_KEY": "x"}],
    ids=["sem-credencial", "token-errado", "esquema-errado", "chave-errada"],
)
def test_without_valid_credentials_it_is_401_with_a_bearer_challenge(client, token, headers) -> None:
    response = client.get("/metrics", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "Credenciais ausentes ou inválidas" in response.content.decode()
    assert b"julia_" not in response.content


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_an_api_key_scrapes_in_either_header_without_a_token(client, api_key, header) -> None:
    value = f"Bearer {api_key}" if header == "HTTP_AUTHORIZATION" else api_key

    response = client.get("/metrics", **{header: value})

    assert response.status_code == 200
    assert ApiKey.objects.get().last_used_at is not None  # recorded, as the JSON API does


def test_a_revoked_key_is_refused_while_metrics_is_on(client, token, api_key) -> None:
    ApiKey.objects.update(is_active=False)

    assert client.get("/metrics", HTTP_X_API_KEY=api_key).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {api_key}").status_code == 401


def test_a_logged_in_person_without_credentials_is_401(as_administrator, token) -> None:
    assert as_administrator.get("/metrics").status_code == 401


def test_the_answer_is_never_stored_and_sets_no_cookie(client, token) -> None:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response["Cache-Control"] == "no-store"
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_only_get_and_head_are_allowed_and_csrf_does_not_answer_for_it(client, token) -> None:
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert client.head("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_a_short_token_stops_production_at_startup() -> None:
    result = manage("check", **{**PRODUCTION, "METRICS_TOKEN": "curto-demais"})

    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 32 characters when DEBUG is off." in result.stderr
    assert manage("check", **{**PRODUCTION, "METRICS_TOKEN": TOKEN}).returncode == 0
