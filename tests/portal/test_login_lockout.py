"""Brute-force protection: after LOGIN_FAILURE_LIMIT wrong passwords a username is locked out from that address."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from julia_monitor.roles import assign_role

pytestmark = pytest.mark.django_db

PASSWORD = "uma-senha-boa-de-verdade"
LOCKED = "Muitas tentativas de login sem sucesso. Tente novamente em 15 minutos."


@pytest.fixture
def person(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("carla", password=PASSWORD)
    assign_role(user, "administrador")  # so the same login also opens the admin
    return user


def log_in(client: Client, username: str, password: str, page: str = "/entrar/", **extra: str):
    return client.post(page, {"username": username, "password": password}, **extra)


def fail(client: Client, times: int, username: str = "carla", page: str = "/entrar/", **extra: str) -> None:
    for _ in range(times):
        log_in(client, username, "senha-errada", page, **extra)


@pytest.mark.parametrize("page", ["/entrar/", "/admin/login/"])
def test_after_the_limit_of_wrong_passwords_even_the_right_one_is_refused_with_a_clear_page(
    client: Client, person: User, settings, page: str
) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT, page=page)

    response = log_in(client, "carla", PASSWORD, page)

    assert response.status_code == 429
    html = response.content.decode()
    assert LOCKED in html
    assert '<html lang="pt-br">' in html and "Traceback" not in html
    assert "_auth_user_id" not in client.session


def test_wrong_passwords_below_the_limit_still_let_the_right_one_in(client: Client, person: User, settings) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT - 1)

    response = log_in(client, "carla", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)


def test_the_limit_and_the_cool_off_come_from_the_settings(client: Client, person: User, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    fail(client, 2)

    response = log_in(client, "carla", PASSWORD)

    assert response.status_code == 429
    assert "Tente novamente em 1 minuto." in response.content.decode()


def test_a_lockout_is_for_that_username_from_that_address_only(
    client: Client, person: User, django_user_model: type[User], settings
) -> None:
    django_user_model.objects.create_user("davi", password=PASSWORD)
    fail(client, settings.AXES_FAILURE_LIMIT)

    other_name_same_address = log_in(client, "davi", PASSWORD)
    same_name_other_address = log_in(Client(), "carla", PASSWORD, REMOTE_ADDR="10.0.0.7")

    assert other_name_same_address.status_code == 302
    assert same_name_other_address.status_code == 302
    assert log_in(Client(), "carla", PASSWORD).status_code == 429


def test_after_the_cool_off_the_right_password_works_again(client: Client, person: User, settings) -> None:
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        fail(client, settings.AXES_FAILURE_LIMIT)
        traveller.shift(timedelta(minutes=14))
        assert log_in(client, "carla", PASSWORD).status_code == 429
        # Each attempt during the lockout starts the cool-off again.
        traveller.shift(timedelta(minutes=15, seconds=1))

        response = log_in(client, "carla", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)


def test_an_administrator_unlocks_a_person_in_the_admin(
    client: Client, person: User, django_user_model: type[User], settings
) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT)
    attempt = AccessAttempt.objects.get(username="carla")
    unlocker = django_user_model.objects.create_user("beatriz")
    assign_role(unlocker, "administrador")
    admin = Client()
    admin.force_login(unlocker)

    listing = admin.get("/admin/axes/accessattempt/")
    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert "Bloqueios de login" in listing.content.decode() and "Bloqueado" in listing.content.decode()
    assert response.status_code == 302
    assert log_in(client, "carla", PASSWORD).status_code == 302


def test_forged_forwarded_for_headers_are_ignored_without_a_trusted_proxy(
    client: Client, person: User, settings
) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "carla", "senha-errada", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    response = log_in(client, "carla", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_client_address_is_the_one_the_proxy_saw(
    client: Client, person: User, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy appends the address it saw; what the client sent before it may be forged.
    fail(client, settings.AXES_FAILURE_LIMIT, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.1", REMOTE_ADDR="10.0.0.1")

    same_client_forging = log_in(client, "carla", PASSWORD, HTTP_X_FORWARDED_FOR="5.6.7.8, 198.51.100.1")
    other_client = log_in(Client(), "carla", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.2", REMOTE_ADDR="10.0.0.1")

    assert same_client_forging.status_code == 429
    assert other_client.status_code == 302
    assert AccessAttempt.objects.get().ip_address == "198.51.100.1"


def test_api_keys_and_the_webhook_do_not_go_through_the_lockout(
    client: Client, person: User, api_key: str, settings
) -> None:
    settings.EVOLUTION_WEBHOOK_SECRET = "segredo-do-webhook"
    fail(client, settings.AXES_FAILURE_LIMIT)

    api = client.get("/dashboard/instances", HTTP_X_API_KEY=api_key)
    webhook = client.post(
        "/webhooks/evolution",
        {"event": "connection.update", "instance": "zap-01", "data": {"state": "open"}},
        content_type="application/json",
        headers={"X-Webhook-Secret": "segredo-do-webhook"},
    )

    assert api.status_code == 200
    assert webhook.status_code == 200
