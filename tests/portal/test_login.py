"""Logging in and out, in pt-BR; every page sends an anonymous visitor to the login page."""

from __future__ import annotations

import pytest
from django.test import Client

from julia_monitor.roles import assign_role

pytestmark = pytest.mark.django_db

PASSWORD = "uma-senha-boa-de-verdade"


@pytest.fixture
def person(django_user_model):
    user = django_user_model.objects.create_user("carla", password=PASSWORD)
    assign_role(user, "visualizador")
    return user


@pytest.fixture
def alert_id(make_alert) -> int:
    return make_alert("zap-01").pk


@pytest.mark.parametrize("page", ["/", "/alertas/", "/alertas/{id}/", "/alertas/?estado=firing&pagina=2"])
def test_an_anonymous_visitor_is_sent_to_the_login_page(client: Client, alert_id: int, page: str) -> None:
    path = page.format(id=alert_id)

    response = client.get(path)

    assert response.status_code == 302
    assert response.url.startswith("/entrar/?next=")
    follow = client.get(response.url)
    assert follow.status_code == 200
    assert follow.context["next"] == path


def test_the_login_page_speaks_portuguese(client: Client) -> None:
    html = client.get("/entrar/").content.decode()

    assert '<html lang="pt-br">' in html
    for words in ("<h1>Entrar</h1>", "Usuário", "Senha", ">Entrar</button>"):
        assert words in html


def test_logging_in_lands_on_the_page_that_was_asked_for(client: Client, person, alert_id: int) -> None:
    asked = f"/alertas/{alert_id}/"

    response = client.post("/entrar/", {"username": "carla", "password": PASSWORD, "next": asked}, follow=True)

    assert response.redirect_chain == [(asked, 302)]
    assert response.status_code == 200
    assert f'data-alert="{alert_id}"' in response.content.decode()
    assert response.context["user"] == person


def test_logging_in_without_a_page_lands_on_the_fleet_overview(client: Client, person) -> None:
    response = client.post("/entrar/", {"username": "carla", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == "/"


def test_a_next_to_another_site_is_ignored(client: Client, person) -> None:
    response = client.post("/entrar/", {"username": "carla", "password": PASSWORD, "next": "https://evil.example.com/"})

    assert response.url == "/"


@pytest.mark.parametrize(("username", "password"), [("carla", "senha-errada"), ("ninguem", PASSWORD)])
def test_a_wrong_password_or_user_shows_the_error_in_portuguese(client: Client, person, username, password) -> None:
    response = client.post("/entrar/", {"username": username, "password": password, "next": "/alertas/"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Usuário ou senha incorretos. Tente de novo." in html
    assert 'value="/alertas/"' in html  # still goes to the page asked for on the next try
    assert "_auth_user_id" not in client.session


def test_an_inactive_person_cannot_log_in(client: Client, person) -> None:
    person.is_active = False
    person.save()

    response = client.post("/entrar/", {"username": "carla", "password": PASSWORD})

    assert response.status_code == 200
    assert "Usuário ou senha incorretos" in response.content.decode()


def test_logging_out_goes_back_to_the_login_page(client: Client, person) -> None:
    client.force_login(person)
    assert "Sair" in client.get("/alertas/").content.decode()

    response = client.post("/sair/")

    assert response.status_code == 302
    assert response.url == "/entrar/"
    assert client.get("/alertas/").url == "/entrar/?next=/alertas/"


def test_logging_out_is_post_only(client: Client, person) -> None:
    client.force_login(person)

    response = client.get("/sair/")

    assert response.status_code == 405
    assert client.get("/alertas/").status_code == 200
