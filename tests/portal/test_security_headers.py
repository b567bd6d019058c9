"""What every answer tells the browser: the Content-Security-Policy, and not to keep a copy."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db


def policy(response: object) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]  # type: ignore[index]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("path", ["/", "/alertas/", "/admin/", "/dashboard/docs"])
def test_logged_in_pages_carry_a_strict_policy_and_are_not_stored(as_administrator: Client, path: str) -> None:
    response = as_administrator.get(path)

    assert response.status_code == 200
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
    assert csp["style-src"] == ["'self'"]  # no nonce asked for, so none given
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "no-store" in response["Cache-Control"]


def test_api_answers_and_health_are_not_stored(api_client: Client, client: Client) -> None:
    instances = api_client.get("/dashboard/instances")
    health = client.get("/dashboard/health")

    assert instances.status_code == 200
    assert instances["Cache-Control"] == "no-store"
    assert health["Cache-Control"] == "no-store"


def test_the_login_page_is_not_stored_either(client: Client) -> None:
    response = client.get("/entrar/")

    assert "no-store" in response["Cache-Control"]
    assert "Content-Security-Policy" in response


def test_the_standalone_error_page_styles_itself_by_nonce_only(as_viewer: Client, settings: Settings) -> None:
    settings.DEBUG = False

    response = as_viewer.get("/endereco-que-nao-existe/")

    assert response.status_code == 404
    nonce = next(v for v in policy(response)["style-src"] if v.startswith("'nonce-"))
    assert f'<style nonce="{nonce[7:-1]}">' in response.content.decode()
    assert "style=" not in response.content.decode()
