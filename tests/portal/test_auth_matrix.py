"""Who may open every route of the portal, read from the URL configuration itself.

Every route Django knows is listed by walking ``get_resolver()``; each has a decision in
``DECISIONS`` (or belongs to the admin family), so a new route without one fails the build.
Each route is requested by each of seven callers: anonymous, a wrong API key, a valid API key
(without a login), a viewer, an operator, an administrator and a superuser. GETs for every
route, and for a route that changes state, a POST with a harmless body by every caller that
must be refused, after which nothing in the database may have changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from alerts.maintenance import MaintenanceWindow
from julia_monitor.roles import assign_role

CALLERS = ("anonymo", "chave_errada", "chave", "visualizador", "operador", "administrador", "superusuario")
PEOPLE = ("visualizador", "operador", "administrador", "superusuario")

LOGIN = "login"  # a redirect to /entrar/
ADMIN_LOGIN = "admin-login"  # a redirect to /admin/login/
OK = 200
FOUND = 302


def everyone(outcome: Any) -> dict[str, Any]:
    return dict.fromkeys(CALLERS, outcome)


def people(outcome: Any, others: Any) -> dict[str, Any]:
    return {caller: outcome if caller in PEOPLE else others for caller in CALLERS}


def api(outcome: Any) -> dict[str, Any]:
    """An API route: a key or a login; no credentials (or a wrong key) is 401."""
    return {**everyone(outcome), "anonymo": 401, "chave_errada": 401}


# route name → (GET outcome by caller, POST outcome by caller or None for a read-only route).
# The POST column lists only refusals (their database must not change); None = no POST.
PAGE = people(OK, LOGIN)
DECISIONS: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    # The portal's pages: a login, whatever the role; no API key.
    "fleet-overview": (PAGE, None),
    "fleet-overview-partial": (PAGE, None),
    "instance-detail": (PAGE, None),
    "instance-status-partial": (PAGE, None),
    "instance-state": (PAGE, None),
    "alert-log": (PAGE, None),
    "alert-detail": (PAGE, None),
    "maintenance-list": (PAGE, None),
    "maintenance-detail": (PAGE, None),
    # Actions: POST only; a viewer is refused, operators and above may act.
    # (a GET is refused for its method before anyone is asked to log in, except where the login comes first)
    "instance-reconnect": (people(405, LOGIN), {**people(None, LOGIN), "visualizador": 403}),
    "instance-drain": (people(405, LOGIN), {**people(None, LOGIN), "visualizador": 403}),
    "instance-migration-undo": (people(405, LOGIN), {**people(None, LOGIN), "visualizador": 403}),
    "alert-acknowledge": (everyone(405), {**people(None, LOGIN), "visualizador": 403}),
    "alert-resolve": (everyone(405), {**people(None, LOGIN), "visualizador": 403}),
    "maintenance-schedule": (people(405, LOGIN), {**people(None, LOGIN), "visualizador": 403}),
    "maintenance-end": (people(405, LOGIN), {**people(None, LOGIN), "visualizador": 403}),
    "login": (people(FOUND, OK), None),
    "logout": (everyone(405), None),
    # Evolution's webhook: its own secret, never a login or an API key (none configured here: 403).
    "evolution-webhook": (everyone(405), everyone(403)),
    # Slack's button presses: Slack's signature, never a login or an API key (unsigned: 401).
    "slack-interactions": (everyone(405), everyone(401)),
    # Prometheus' scrape: METRICS_TOKEN or an API key as a bearer token (or X-API-Key), never a login.
    "metrics": ({**everyone(401), "chave": OK}, None),
    # The JSON API.
    "dashboard:health": (everyone((200, 503)), None),
    "dashboard:api-root": (everyone(404), None),
    "dashboard:openapi-json": ({**api(OK), "anonymo": LOGIN}, None),
    "dashboard:openapi-view": ({**api(OK), "anonymo": LOGIN}, None),
    "dashboard:list_instances": (api(OK), None),
    "dashboard:instance_detail": (api(OK), None),
    "dashboard:list_alerts": (api(OK), None),
    "dashboard:list_doctors": (api(OK), None),
    "dashboard:get_alert_detail": (api(OK), None),
    # POST-only operations: the method is checked before the credentials.
    "dashboard:report_usage": (everyone(405), {**api(None), "visualizador": 403}),
    "dashboard:acknowledge_alert": (everyone(405), {**api(None), "visualizador": 403}),
    "dashboard:resolve_alert": (everyone(405), {**api(None), "visualizador": 403}),
    # Maintenance windows: anyone reads them; scheduling and ending need an operator (or a key).
    # (one path, two operations: ninja names the path once per operation, the same view serves both)
    "dashboard:list_windows": (api(OK), {**api(None), "visualizador": 403}),
    "dashboard:schedule_window": (api(OK), {**api(None), "visualizador": 403}),
    "dashboard:end_window": (everyone(405), {**api(None), "visualizador": 403}),
}


def routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """Yield (name, pattern) for every route, the name with its namespace (``admin:index``)."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace or namespace
            yield from routes(entry, prefix + str(entry.pattern), inner or "")
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else str(entry.name)
            yield name, prefix + str(entry.pattern)


ARGUMENTS = {
    "nome": "zap-01",
    "alert_id": "1",
    "window_id": "1",
    "lote": "1",
    "object_id": "1",
    "id": "1",
    "pk": "1",
    "url": "nada/",
    "content_type_id": "1",
    "app_label": "instances",
}


def concrete(pattern: str, arguments: dict[str, str]) -> str:
    """Return a path for ``pattern`` whose arguments name real rows (``instancias/zap-01/``)."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: arguments[m[1]], pattern.replace("^", "").replace("$", ""))
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: arguments[m[1]], path)
    assert "<" not in path and "(" not in path, f"sem argumento para {pattern}"
    return "/" + path


def snapshot() -> dict[str, list]:
    """Every row of the portal's own tables (sessions aside: logging in writes them)."""
    skipped = {"sessions", "admin"}
    return {
        m._meta.label: list(m.objects.order_by("pk").values())
        for m in apps.get_models()
        if m._meta.app_label not in skipped and m._meta.managed
    }


@pytest.fixture
def cast(make_instance: Any, make_alert: Any, api_key: str, django_user_model: type[User]) -> dict[str, Client]:
    instance = make_instance("zap-01")
    # Real primary keys: PostgreSQL's sequences do not restart between tests.
    alert = make_alert("zap-01")
    window = MaintenanceWindow.schedule(ends_at=timezone.now() + timedelta(hours=1), reason="Troca", whole_fleet=True)
    ARGUMENTS.update(
        window_id=str(window.pk),
        alert_id=str(alert.pk),
        object_id=str(instance.pk),
        id=str(instance.pk),
        pk=str(instance.pk),
    )
    clients = {"anonymo": Client(), "chave_errada": Client(HTTP_X_API_KEY=api_key + "x")}
    clients["chave"] = Client(HTTP_X_API_KEY=api_key)
    for role in ("visualizador", "operador", "administrador"):
        user = django_user_model.objects.create_user(role)
        assign_role(user, role)
        clients[role] = Client()
        clients[role].force_login(user)
    clients["superusuario"] = Client()
    clients["superusuario"].force_login(django_user_model.objects.create_superuser("raiz"))
    return clients


def matches(response: Any, expected: Any) -> bool:
    if expected == LOGIN:
        return response.status_code == FOUND and response["Location"].startswith("/entrar/")
    if expected == ADMIN_LOGIN:
        return response.status_code == FOUND and response["Location"].startswith("/admin/login/")
    if isinstance(expected, tuple):
        return response.status_code in expected
    return response.status_code == expected


def admin_expectation(name: str, caller: str) -> Any:
    """The admin as a family: only staff get in; a superuser everywhere, an administrator by permission."""
    if name == "admin:logout":
        return 405 if caller in ("superusuario", "administrador") else FOUND  # POST-only once past the login
    if name == "admin:login":
        return FOUND if caller in ("superusuario", "administrador") else OK
    if caller not in ("superusuario", "administrador"):
        return ADMIN_LOGIN
    if name.endswith("_process_import"):
        return 405  # the confirmation of a previewed import (django-import-export): POST-only
    # 302/404: the change form of a row that is not there; 403: what the admin allows no one
    # (adding or deleting history) or, for an administrator, what their role does not include.
    return (200, 302, 403, 404)


def test_every_route_has_a_decision() -> None:
    found = {name for name, _pattern in routes()}

    undecided = {n for n in found if not n.startswith("admin:")} - set(DECISIONS)
    gone = set(DECISIONS) - found
    assert not undecided, f"rotas novas sem decisão em DECISIONS: {sorted(undecided)}"
    assert not gone, f"decisões de rotas que não existem mais: {sorted(gone)}"


@pytest.mark.django_db
def test_every_caller_gets_what_the_table_says_on_every_route(cast: dict[str, Client]) -> None:
    wrong: list[str] = []
    for name, pattern in routes():
        path = concrete(pattern, ARGUMENTS)
        if name.startswith("admin:"):
            get, post = {c: admin_expectation(name, c) for c in CALLERS}, None
        else:
            get, post = DECISIONS[name]
        for caller, client in cast.items():
            response = client.get(path)
            if not matches(response, get[caller]):
                wrong.append(f"GET {path} como {caller}: {response.status_code}, esperado {get[caller]}")
            if response.status_code == 500:
                wrong.append(f"GET {path} como {caller}: erro {response.status_code}")
            if post is None or post[caller] is None:
                continue
            before = snapshot()
            response = client.post(path)  # no body: every action here takes none
            if not matches(response, post[caller]):
                wrong.append(f"POST {path} como {caller}: {response.status_code}, esperado {post[caller]}")
            if snapshot() != before:
                wrong.append(f"POST {path} como {caller} foi recusado mas mudou o banco")

    assert not wrong, "\n".join(wrong)
