"""Every change of access made in the admin is recorded (who, when, what), and a new API key is shown once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from instances.models import AccessChange, ApiKey
from julia_monitor.roles import assign_role

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
Kind = AccessChange.Kind


@pytest.fixture
def admin_client(administrator: User) -> Client:
    client = Client()
    client.force_login(administrator)
    return client


def rows() -> list[tuple[str, str, str, str]]:
    return [(c.actor_name, c.kind, c.target, c.detail) for c in AccessChange.objects.order_by("id")]


# --- API keys ---------------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_on_its_own_page_and_never_in_a_cookie(admin_client: Client) -> None:
    created = admin_client.post("/admin/instances/apikey/add/", {"name": "painel-tv", "is_active": "on"})
    key = ApiKey.objects.get(name="painel-tv")
    shown = admin_client.get(created.url)
    secret = shown.context["secret"]
    again = admin_client.get(created.url)

    assert created.url == f"/admin/instances/apikey/{key.pk}/emitida/"
    assert shown.status_code == 200 and secret.startswith("jm_") and secret in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    assert again.status_code == 200 and secret not in again.content.decode()
    assert "já foi mostrada e não pode ser exibida de novo" in again.content.decode()
    for response in (created, shown, again):
        assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert all(secret not in morsel.value for morsel in admin_client.cookies.values())
    assert ApiKey.authenticate(secret) == key
    assert rows() == [("administradora", Kind.API_KEY_CREATED, str(key), "")]


def test_nobody_else_reads_a_new_key_from_its_page(admin_client: Client, django_user_model: type[User]) -> None:
    created = admin_client.post("/admin/instances/apikey/add/", {"name": "painel-tv", "is_active": "on"})
    other = django_user_model.objects.create_user("outra-admin")
    assign_role(other, "administrador")
    other_client = Client()
    other_client.force_login(other)

    page = other_client.get(created.url)

    assert page.status_code == 200 and page.context["secret"] is None
    assert admin_client.get(created.url).context["secret"]  # still waiting for the one who created it


def test_revoking_keys_in_the_admin_is_recorded_with_who_and_when(admin_client: Client) -> None:
    first, _ = ApiKey.issue("integracao")
    second, _ = ApiKey.issue("painel-tv")
    ApiKey.objects.filter(pk=second.pk).update(is_active=False)  # already revoked: not again

    with time_machine.travel(NOON, tick=False):
        response = admin_client.post(
            "/admin/instances/apikey/",
            {"action": "revoke", "_selected_action": [str(first.pk), str(second.pk)]},
        )

    assert response.status_code == 302
    assert not ApiKey.objects.filter(is_active=True).exists()
    change = AccessChange.objects.get()
    assert (change.actor_name, change.kind, change.target) == ("administradora", Kind.API_KEY_REVOKED, str(first))
    assert change.created_at == NOON


def test_unticking_active_on_a_key_is_a_recorded_revocation(admin_client: Client) -> None:
    key, _ = ApiKey.issue("integracao")

    admin_client.post(f"/admin/instances/apikey/{key.pk}/change/", {"name": "integracao"})

    assert rows() == [("administradora", Kind.API_KEY_REVOKED, str(key), "")]


def test_deleting_a_key_is_recorded(admin_client: Client) -> None:
    key, _ = ApiKey.issue("integracao")

    admin_client.post(f"/admin/instances/apikey/{key.pk}/delete/", {"post": "yes"})

    assert not ApiKey.objects.exists()
    assert rows() == [("administradora", Kind.API_KEY_DELETED, str(key), "")]


# --- People and groups ------------------------------------------------------------------------------


def test_changing_a_persons_role_is_recorded_with_what_changed(admin_client: Client, viewer: User) -> None:
    operators = Group.objects.get(name="Operadores")

    with time_machine.travel(NOON, tick=False):
        response = admin_client.post(
            f"/admin/auth/user/{viewer.pk}/change/",
            {
                "username": "leitor",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "10:00:00",
                "is_active": "on",
                "is_staff": "on",
                "groups": [str(operators.pk)],
            },
        )

    assert response.status_code == 302
    change = AccessChange.objects.get()
    assert (change.actor_name, change.kind, change.target, change.created_at) == (
        "administradora",
        Kind.USER_CHANGED,
        "leitor",
        NOON,
    )
    assert change.detail.splitlines() == ["Membro da equipe: não → sim", "Grupos: +Operadores, −Visualizadores"]


def test_creating_a_person_setting_a_password_and_deleting_them_is_recorded(admin_client: Client) -> None:
    admin_client.post(
        "/admin/auth/user/add/",
        {
            "username": "nova",
            "password1": "senha-boa-da-nova-1",
            "password2": "senha-boa-da-nova-1",
            "usable_password": "true",
        },
    )
    person = User.objects.get(username="nova")
    admin_client.post(
        f"/admin/auth/user/{person.pk}/password/",
        {"password1": "outra-senha-da-nova-2", "password2": "outra-senha-da-nova-2"},
    )
    admin_client.post(f"/admin/auth/user/{person.pk}/delete/", {"post": "yes"})

    assert [(kind, target, detail) for _who, kind, target, detail in rows()] == [
        (Kind.USER_CREATED, "nova", ""),
        (Kind.PASSWORD_CHANGED, "nova", "senha trocada"),
        (Kind.USER_DELETED, "nova", ""),
    ]


def test_creating_and_changing_a_group_is_recorded(admin_client: Client) -> None:
    doctors = Permission.objects.get(codename="change_doctor")
    admin_client.post("/admin/auth/group/add/", {"name": "Cadastro", "permissions": [str(doctors.pk)]})
    group = Group.objects.get(name="Cadastro")
    admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "Cadastro de médicos", "permissions": []})

    assert [(kind, target, detail) for _who, kind, target, detail in rows()] == [
        (Kind.GROUP_CREATED, "Cadastro", "Permissões: +instances.change_doctor"),
        (
            Kind.GROUP_CHANGED,
            "Cadastro de médicos",
            "Nome: Cadastro → Cadastro de médicos\nPermissões: −instances.change_doctor",
        ),
    ]


def test_unlocking_a_login_is_recorded(admin_client: Client, client: Client, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/entrar/", {"username": "carla", "password": "errada"})
    attempt = AccessAttempt.objects.get()

    admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert rows() == [
        (
            "administradora",
            Kind.LOGIN_UNLOCKED,
            "carla em 127.0.0.1",
            f"{settings.AXES_FAILURE_LIMIT} tentativa(s) falha(s)",
        )
    ]


# --- The audit itself -------------------------------------------------------------------------------


def test_the_audit_is_listed_in_the_admin_and_nobody_edits_or_deletes_it(
    admin_client: Client, django_user_model: type[User]
) -> None:
    key, _ = ApiKey.issue("integracao")
    admin_client.post("/admin/instances/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]})
    change = AccessChange.objects.get()
    root = Client()
    root.force_login(django_user_model.objects.create_superuser("raiz"))

    listing = admin_client.get("/admin/instances/accesschange/")
    edits = [
        client.post(f"/admin/instances/accesschange/{change.pk}/change/", {"target": "outra"})
        for client in (admin_client, root)
    ]
    deletions = [
        client.post(f"/admin/instances/accesschange/{change.pk}/delete/", {"post": "yes"})
        for client in (admin_client, root)
    ]

    html = listing.content.decode()
    assert "Auditoria de acesso" in html and "Chave de API revogada" in html and "administradora" in html
    assert [r.status_code for r in edits + deletions] == [403, 403, 403, 403]
    assert root.get("/admin/instances/accesschange/add/").status_code == 403
    assert AccessChange.objects.get().target == str(key)
