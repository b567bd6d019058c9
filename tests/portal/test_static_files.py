"""In production (DEBUG off) whitenoise serves our own CSS from ``collectstatic``'s output.

Django serves no static file itself with DEBUG off, and the test client has no static URL
patterns: every 200 here comes from whitenoise reading the collected, hashed, compressed
files, exactly as under gunicorn.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from pytest_django.fixtures import Settings

MANIFEST = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A STATIC_ROOT filled by a real ``collectstatic`` with the production storage (once per module)."""
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root, STORAGES=MANIFEST):
        call_command("collectstatic", interactive=False, verbosity=0)
    return root


def production_client(settings: Settings, static_root: Path) -> Client:
    settings.DEBUG = False
    settings.STATIC_ROOT = static_root
    settings.STORAGES = MANIFEST
    # A new client builds a new middleware chain, so whitenoise scans this STATIC_ROOT.
    return Client()


@pytest.fixture
def production(settings: Settings, collected: Path) -> Client:
    return production_client(settings, collected)


def body(response: object) -> bytes:
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_collectstatic_writes_our_stylesheets_hashed_and_compressed(collected: Path) -> None:
    names = {p.name for p in (collected / "julia").iterdir()}

    assert {"app.css", "alerts.css", "app.css.gz"} <= names
    assert any(re.fullmatch(r"app\.[0-9a-f]{12}\.css", n) for n in names)
    assert (collected / "staticfiles.json").exists()


def test_whitenoise_serves_the_stylesheet_with_debug_off(production: Client) -> None:
    response = production.get("/static/julia/app.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b".card" in body(response)


@pytest.mark.django_db
def test_pages_link_hashed_stylesheets_that_are_cached_for_good(production: Client, django_user_model) -> None:
    production.force_login(django_user_model.objects.create_user("leitor"))
    html = production.get("/alertas/").content.decode()
    links = re.findall(r'href="(/static/julia/(?:app|alerts)\.[0-9a-f]{12}\.css)"', html)

    assert len(links) == 2
    for link in links:
        response = production.get(link)
        assert response.status_code == 200
        assert "immutable" in response["Cache-Control"]


def test_a_browser_that_accepts_gzip_gets_it_compressed(production: Client) -> None:
    response = production.get("/static/julia/app.css", HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert b".card" in gzip.decompress(body(response))


def test_a_missing_static_file_is_a_404(production: Client) -> None:
    assert production.get("/static/julia/nao-existe.css").status_code == 404


def test_without_collectstatic_nothing_is_served(settings: Settings, tmp_path: Path) -> None:
    # The source files exist in the apps; with DEBUG off they must come from STATIC_ROOT only.
    client = production_client(settings, tmp_path)

    assert client.get("/static/julia/app.css").status_code == 404
