"""No role raises itself: administrators manage people and groups in the admin only up to their own level.

Every attempt here is a real admin POST, as a crafted request would be; a refusal is a 403 or a
form error and the database is left as it was. A superuser keeps full power.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from julia_monitor.roles import ADMINISTRATORS, OPERATORS, VIEWERS, assign_role, ensure_roles

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles() -> None:
    ensure_roles()


CHOICE_REFUSED = "Faça uma escolha válida."


def perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def group(name: str) -> Group:
    return Group.objects.get(name=name)


@pytest.fixture
def powerful_group() -> Group:
    """A group granting what administrators do not hold: deleting alerts (the history)."""
    powerful = Group.objects.create(name="Poderosos")
    powerful.permissions.add(perm("alerts.delete_alert"))
    return powerful


@pytest.fixture
def superuser(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_superuser("raiz", password="senha-da-raiz-original")


@pytest.fixture
def viewer_person(django_user_model: type[User]) -> User:
    person = django_user_model.objects.create_user("vera", password="senha-da-vera-original")
    assign_role(person, "visualizador")
    return person


@pytest.fixture
def admin_client(administrator: User) -> Client:
    client = Client()
    client.force_login(administrator)
    return client


@pytest.fixture
def root_client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def user_form(user: User, **changes: Any) -> dict[str, Any]:
    """The user change form as the admin posts it, with ``changes`` on top (None leaves a field out)."""
    data: dict[str, Any] = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "is_active": "on" if user.is_active else None,
        "is_staff": "on" if user.is_staff else None,
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def access_of(user: User) -> tuple[bool, bool, bool, list[str], list[str]]:
    user.refresh_from_db()
    groups = sorted(user.groups.values_list("name", flat=True))
    perms = sorted(user.user_permissions.values_list("codename", flat=True))
    return user.is_superuser, user.is_staff, user.is_active, groups, perms


# --- Their own login ------------------------------------------------------------------------------


def test_an_administrator_cannot_make_itself_superuser(admin_client: Client, administrator: User) -> None:
    before = access_of(administrator)
    url = f"/admin/auth/user/{administrator.pk}/change/"

    page = admin_client.get(url)
    response = admin_client.post(url, user_form(administrator, is_superuser="on", is_staff=None, is_active=None))

    assert 'name="is_superuser"' not in page.content.decode()  # read-only, not a checkbox
    assert response.status_code == 403
    assert access_of(administrator) == before


@pytest.mark.parametrize("field", ["groups", "user_permissions", "is_staff", "is_active"])
def test_an_administrator_cannot_change_its_own_access(
    admin_client: Client, administrator: User, powerful_group: Group, field: str
) -> None:
    before = access_of(administrator)
    tampered = {
        "groups": [str(powerful_group.pk), str(group(ADMINISTRATORS).pk)],
        "user_permissions": [str(perm("alerts.delete_alert").pk)],
        "is_staff": "false",
        "is_active": "false",
    }[field]

    response = admin_client.post(
        f"/admin/auth/user/{administrator.pk}/change/",
        user_form(administrator, **{"is_staff": None, "is_active": None, "groups": None, field: tampered}),
    )

    assert response.status_code == 403
    assert access_of(administrator) == before


def test_an_administrator_still_edits_its_own_name(admin_client: Client, administrator: User) -> None:
    response = admin_client.post(
        f"/admin/auth/user/{administrator.pk}/change/",
        user_form(administrator, first_name="Ana", is_staff=None, is_active=None, groups=None),
    )

    assert response.status_code == 302
    administrator.refresh_from_db()
    assert administrator.first_name == "Ana" and administrator.is_staff and not administrator.is_superuser


# --- Superusers and people who hold more ------------------------------------------------------------


def test_an_administrator_cannot_edit_the_superuser_nor_set_its_password(admin_client: Client, superuser: User) -> None:
    base = f"/admin/auth/user/{superuser.pk}"

    page = admin_client.get(f"{base}/change/")
    change = admin_client.post(f"{base}/change/", user_form(superuser, is_superuser="on", first_name="Invasor"))
    password_page = admin_client.get(f"{base}/password/")
    password = admin_client.post(
        f"{base}/password/", {"password1": "senha-nova-do-invasor", "password2": "senha-nova-do-invasor"}
    )
    delete = admin_client.post(f"{base}/delete/", {"post": "yes"})

    assert page.status_code == 200 and 'name="first_name"' not in page.content.decode()  # read-only view
    assert (change.status_code, password_page.status_code, password.status_code) == (403, 403, 403)
    assert delete.status_code == 403
    superuser.refresh_from_db()
    assert superuser.first_name == "" and superuser.check_password("senha-da-raiz-original")


def test_an_administrator_cannot_set_the_password_of_someone_who_holds_more(
    admin_client: Client, viewer_person: User
) -> None:
    viewer_person.user_permissions.add(perm("alerts.delete_alert"))

    response = admin_client.post(
        f"/admin/auth/user/{viewer_person.pk}/password/",
        {"password1": "senha-nova-do-invasor", "password2": "senha-nova-do-invasor"},
    )

    assert response.status_code == 403
    viewer_person.refresh_from_db()
    assert viewer_person.check_password("senha-da-vera-original")


# --- What they may grant to others ------------------------------------------------------------------


def test_an_administrator_cannot_put_someone_in_a_group_that_grants_more_than_it_holds(
    admin_client: Client, viewer_person: User, powerful_group: Group
) -> None:
    before = access_of(viewer_person)

    response = admin_client.post(
        f"/admin/auth/user/{viewer_person.pk}/change/", user_form(viewer_person, groups=[str(powerful_group.pk)])
    )

    assert response.status_code == 200
    assert CHOICE_REFUSED in response.content.decode()
    assert access_of(viewer_person) == before


def test_an_administrator_cannot_grant_a_permission_it_lacks(admin_client: Client, viewer_person: User) -> None:
    before = access_of(viewer_person)

    response = admin_client.post(
        f"/admin/auth/user/{viewer_person.pk}/change/",
        user_form(viewer_person, user_permissions=[str(perm("alerts.delete_alert").pk)]),
    )

    assert response.status_code == 200
    assert CHOICE_REFUSED in response.content.decode()
    assert access_of(viewer_person) == before


def test_an_administrator_cannot_make_someone_else_superuser(admin_client: Client, viewer_person: User) -> None:
    before = access_of(viewer_person)

    response = admin_client.post(
        f"/admin/auth/user/{viewer_person.pk}/change/", user_form(viewer_person, is_superuser="on")
    )

    assert response.status_code == 403
    assert access_of(viewer_person) == before


def test_an_administrator_gives_a_role_up_to_its_own(admin_client: Client, viewer_person: User) -> None:
    response = admin_client.post(
        f"/admin/auth/user/{viewer_person.pk}/change/",
        user_form(viewer_person, groups=[str(group(ADMINISTRATORS).pk)], is_staff="on"),
    )

    assert response.status_code == 302
    assert access_of(viewer_person) == (False, True, True, [ADMINISTRATORS], [])


# --- Groups ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [ADMINISTRATORS, OPERATORS, VIEWERS])
def test_an_administrator_cannot_edit_the_roles(admin_client: Client, role: str) -> None:
    role_group = group(role)
    before = sorted(role_group.permissions.values_list("pk", flat=True))
    extra = perm("auth.view_permission")

    response = admin_client.post(
        f"/admin/auth/group/{role_group.pk}/change/",
        {"name": role, "permissions": [*map(str, before), str(extra.pk)]},
    )
    delete = admin_client.post(f"/admin/auth/group/{role_group.pk}/delete/", {"post": "yes"})

    assert (response.status_code, delete.status_code) == (403, 403)
    assert sorted(group(role).permissions.values_list("pk", flat=True)) == before


def test_an_administrator_cannot_create_a_group_granting_more_than_it_holds(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/auth/group/add/", {"name": "Atalho", "permissions": [str(perm("alerts.delete_alert").pk)]}
    )

    assert response.status_code == 200
    assert CHOICE_REFUSED in response.content.decode()
    assert not Group.objects.filter(name="Atalho").exists()


def test_an_administrator_cannot_edit_a_group_granting_more_than_it_holds(
    admin_client: Client, powerful_group: Group
) -> None:
    response = admin_client.post(f"/admin/auth/group/{powerful_group.pk}/change/", {"name": "Renomeado"})

    assert response.status_code == 403
    assert Group.objects.filter(name="Poderosos").exists()


def test_an_administrator_creates_a_group_within_its_own_permissions(admin_client: Client) -> None:
    doctors = perm("instances.change_doctor")

    response = admin_client.post("/admin/auth/group/add/", {"name": "Cadastro", "permissions": [str(doctors.pk)]})

    assert response.status_code == 302
    assert list(group("Cadastro").permissions.all()) == [doctors]


# --- A superuser keeps full power --------------------------------------------------------------------


def test_a_superuser_makes_someone_superuser_and_grants_anything(
    root_client: Client, viewer_person: User, powerful_group: Group
) -> None:
    response = root_client.post(
        f"/admin/auth/user/{viewer_person.pk}/change/",
        user_form(
            viewer_person,
            is_superuser="on",
            is_staff="on",
            groups=[str(powerful_group.pk)],
            user_permissions=[str(perm("alerts.delete_alert").pk)],
        ),
    )

    assert response.status_code == 302
    assert access_of(viewer_person) == (True, True, True, ["Poderosos"], ["delete_alert"])


def test_a_superuser_edits_the_administrators_role_and_another_superusers_password(
    root_client: Client, django_user_model: type[User]
) -> None:
    other = django_user_model.objects.create_superuser("outra-raiz", password="senha-antiga-da-raiz")
    role_group = group(ADMINISTRATORS)
    extra = perm("alerts.delete_alert")
    perms = [str(pk) for pk in role_group.permissions.values_list("pk", flat=True)]

    role = root_client.post(
        f"/admin/auth/group/{role_group.pk}/change/", {"name": ADMINISTRATORS, "permissions": [*perms, str(extra.pk)]}
    )
    password = root_client.post(
        f"/admin/auth/user/{other.pk}/password/",
        {"password1": "senha-nova-da-raiz-2", "password2": "senha-nova-da-raiz-2"},
    )

    assert (role.status_code, password.status_code) == (302, 302)
    assert role_group.permissions.filter(pk=extra.pk).exists()
    other.refresh_from_db()
    assert other.check_password("senha-nova-da-raiz-2")


def test_an_administrator_cannot_bulk_delete_the_superuser(
    admin_client: Client, superuser: User, viewer_person: User
) -> None:
    response = admin_client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [str(superuser.pk), str(viewer_person.pk)], "post": "yes"},
    )

    assert response.status_code == 403
    assert User.objects.filter(pk__in=[superuser.pk, viewer_person.pk]).count() == 2
