"""The three roles (viewers, operators, administrators) and ``manage.py create_user``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.test import Client

from alerts.choices import AlertState
from julia_monitor.roles import ADMINISTRATORS, OPERATORS, VIEWERS, assign_role, ensure_roles

pytestmark = pytest.mark.django_db


def perms_of(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def create_user(*args: str) -> str:
    out = StringIO()
    call_command("create_user", *args, stdout=out)
    return out.getvalue()


def logs_in(client: Client, username: str, password: str) -> bool:
    """Log in through the login page, as a person does (``client.login`` passes no request to the lockout)."""
    response = client.post("/entrar/", {"username": username, "password": password})
    return response.status_code == 302 and "_auth_user_id" in client.session


def password_in(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("Senha: "))
    return line.removeprefix("Senha: ").split()[0]


# --- The groups -----------------------------------------------------------------------------------


def test_viewers_may_look_at_everything_of_the_portal_and_change_nothing() -> None:
    ensure_roles()

    viewer = perms_of(VIEWERS)

    assert {"instances.view_instance", "instances.view_statuschange", "alerts.view_alert"} <= viewer
    assert {"alerts.view_alertevent", "alerts.view_notification", "instances.view_doctor"} <= viewer
    assert all(p.split(".")[1].startswith("view_") for p in viewer)


def test_operators_are_viewers_who_acknowledge_resolve_reconnect_and_schedule_maintenance() -> None:
    ensure_roles()

    assert perms_of(OPERATORS) == perms_of(VIEWERS) | {
        "alerts.change_alert",
        "alerts.add_maintenancewindow",
        "alerts.change_maintenancewindow",
        "instances.reconnect_instance",
        "instances.report_usage",
        "instances.migrate_doctors",
    }


def test_administrators_also_manage_instances_doctors_keys_and_people() -> None:
    ensure_roles()

    admin = perms_of(ADMINISTRATORS)

    assert perms_of(OPERATORS) <= admin
    for model in ("instances.instance", "instances.doctor", "instances.apikey", "auth.user", "auth.group"):
        app_label, name = model.split(".")
        assert {f"{app_label}.{action}_{name}" for action in ("add", "change", "delete")} <= admin
    assert {"admin.view_logentry", "django_q.view_schedule", "auth.view_permission"} <= admin
    assert "alerts.delete_alert" not in admin  # the history is never deleted


def test_ensure_roles_is_idempotent_and_repairs_a_group() -> None:
    ensure_roles()
    Group.objects.get(name=OPERATORS).permissions.clear()

    ensure_roles()
    ensure_roles()

    assert Group.objects.filter(name__in=[VIEWERS, OPERATORS, ADMINISTRATORS]).count() == 3
    assert "alerts.change_alert" in perms_of(OPERATORS)


def test_as_a_post_migrate_handler_it_creates_missing_permissions_first() -> None:
    # "alerts" migrates after "instances": its permissions may not exist yet when this runs.
    Permission.objects.filter(content_type__app_label="alerts").delete()

    ensure_roles(
        sender=apps.get_app_config("instances"),
        app_config=apps.get_app_config("instances"),
        verbosity=0,
        interactive=False,
        using="default",
        apps=apps,
        plan=[],
    )

    assert {"alerts.change_alert", "alerts.view_alert"} <= perms_of(OPERATORS)


def test_assigning_a_role_replaces_the_previous_one_and_sets_admin_access(django_user_model) -> None:
    user = django_user_model.objects.create_user("dora")

    assign_role(user, "administrador")
    assert (user.is_staff, [g.name for g in user.groups.all()]) == (True, [ADMINISTRATORS])

    assign_role(user, "operador")
    user.refresh_from_db()
    assert (user.is_staff, [g.name for g in user.groups.all()]) == (False, [OPERATORS])


def test_an_unknown_role_is_refused(django_user_model) -> None:
    with pytest.raises(ValueError, match="papel desconhecido"):
        assign_role(django_user_model.objects.create_user("dora"), "chefe")


# --- What each role can do -----------------------------------------------------------------------


@pytest.mark.parametrize(("role", "can_act"), [("visualizador", False), ("operador", True), ("administrador", True)])
def test_each_role_sees_the_alerts_and_only_operators_and_admins_act(
    client: Client, django_user_model, make_alert, role, can_act
) -> None:
    user = django_user_model.objects.create_user("dora")
    assign_role(user, role)
    alert = make_alert("zap-01")
    client.force_login(user)

    page = client.get("/alertas/")
    response = client.post(f"/alertas/{alert.pk}/reconhecer/")

    assert page.status_code == 200 and f'data-alert="{alert.pk}"' in page.content.decode()
    assert ('data-action="ack"' in page.content.decode()) is can_act
    assert response.status_code == (302 if can_act else 403)
    alert.refresh_from_db()
    assert alert.state == (AlertState.ACKNOWLEDGED if can_act else AlertState.FIRING)


@pytest.mark.parametrize(
    ("role", "status"), [("visualizador", 302), ("operador", 302), ("administrador", 200)], ids=["v", "o", "a"]
)
def test_only_administrators_open_the_admin_to_add_an_instance(client: Client, django_user_model, role, status) -> None:
    user = django_user_model.objects.create_user("dora")
    assign_role(user, role)
    client.force_login(user)

    response = client.get("/admin/instances/instance/add/")

    assert response.status_code == status


def test_an_administrator_manages_people_in_the_admin(client: Client, django_user_model) -> None:
    user = django_user_model.objects.create_user("dora")
    assign_role(user, "administrador")
    client.force_login(user)

    assert client.get("/admin/auth/user/add/").status_code == 200
    assert client.get("/admin/instances/apikey/add/").status_code == 200
    assert client.get("/admin/instances/doctor/add/").status_code == 200


# --- manage.py create_user -------------------------------------------------------------------------


def test_create_user_prints_a_password_once_that_logs_in(client: Client, django_user_model) -> None:
    output = create_user("eva", "--role", "operador", "--email", "eva@example.com")

    user = django_user_model.objects.get(username="eva")
    assert [g.name for g in user.groups.all()] == [OPERATORS] and not user.is_staff
    assert user.email == "eva@example.com"
    assert "Usuário 'eva' criado no grupo Operadores." in output
    assert logs_in(client, "eva", password_in(output))


def test_create_user_takes_the_password_from_the_environment_and_never_prints_it(
    client: Client, django_user_model, monkeypatch
) -> None:
    monkeypatch.setenv("NEW_USER_PASSWORD", "cavalo-bateria-grampo-correto")

    output = create_user("fabio", "--role", "administrador")

    assert "cavalo-bateria" not in output
    assert "Senha: a de NEW_USER_PASSWORD." in output
    assert django_user_model.objects.get(username="fabio").is_staff
    assert logs_in(client, "fabio", "cavalo-bateria-grampo-correto")


@pytest.mark.parametrize(
    ("args", "env_password", "message"),
    [
        (["gil", "--role", "chefe"], "", "papel desconhecido 'chefe'"),
        (["gil"], "", "informe o papel: --role visualizador, operador ou administrador"),
        (["gil", "--role", "operador", "--email", "não-é-email"], "", "--email 'não-é-email' recusado"),
        (["gil com espaço", "--role", "operador"], "", "nome de usuário 'gil com espaço' recusado"),
        (["gil", "--role", "operador"], "123", "NEW_USER_PASSWORD recusada"),
        (["ana", "--role", "visualizador"], "", "o usuário 'ana' já existe"),
        (["ANA", "--role", "visualizador"], "", "já existe"),
    ],
)
def test_create_user_refuses_bad_input_with_one_clear_line_and_changes_nothing(
    django_user_model, monkeypatch, args, env_password, message
) -> None:
    existing = django_user_model.objects.create_user("ana", password="senha-da-ana-123")
    monkeypatch.setenv("NEW_USER_PASSWORD", env_password)

    with pytest.raises(CommandError) as refused:
        create_user(*args)

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["ana"]
    existing.refresh_from_db()
    assert not existing.groups.exists() and existing.check_password("senha-da-ana-123")
