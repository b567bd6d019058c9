"""Hostile input on every route: NUL and control characters, broken encoding, hostile names.

The address (path and query string) is refused with a 400 before any view reads it
(``julia_monitor/request_guard.py``): JSON ``{"detail": …}`` under the API and the webhook,
an HTML page elsewhere, always in pt-BR and never a 500 (PostgreSQL refuses NUL in text).
Forms say what is wrong; pages show hostile names escaped.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from alerts.choices import AlertState, EventKind
from alerts.models import AlertEvent

PAGES = [
    ("get", "/"),
    ("get", "/frota/parcial"),
    ("get", "/instancias/{name}/"),
    ("get", "/instancias/{name}/parcial"),
    ("get", "/instancias/{name}/estado"),
    ("post", "/instancias/{name}/reconectar"),
    ("get", "/alertas/"),
    ("get", "/alertas/{alert}/"),
    ("post", "/alertas/{alert}/reconhecer/"),
    ("post", "/alertas/{alert}/resolver/"),
    ("get", "/entrar/"),
    ("get", "/admin/instances/instance/"),
]
API = [
    ("get", "/dashboard/instances"),
    ("get", "/dashboard/instances/{name}"),
    ("post", "/dashboard/instances/{name}/uso"),
    ("get", "/dashboard/alerts"),
    ("get", "/dashboard/alerts/{alert}"),
    ("post", "/dashboard/alerts/{alert}/ack"),
    ("get", "/dashboard/health"),
    ("post", "/webhooks/evolution"),
]
# (what is wrong, path of the instance, query string)
BAD_ADDRESSES = [
    ("NUL in the name", "zap%00-01", ""),
    ("raw NUL in the name", "zap\x00-01", ""),
    ("newline in the name", "zap%0A-01", ""),
    ("ESC in the name", "zap%1B-01", ""),
    ("NUL in a filter", "zap-01", "instancia=zap%00-01"),
    ("NUL in a filter's name", "zap-01", "a%00=1"),
    ("CR in a value", "zap-01", "estado=firing%0D"),
    ("C1 control in a value", "zap-01", "estado=%C2%85"),
    ("line separator in a value", "zap-01", "q=%E2%80%A8"),
    ("invalid UTF-8 in a value", "zap-01", "instancia=%FF"),
    ("lone surrogate in a value", "zap-01", "instancia=%ED%A0%80"),
    ("broken percent-encoding", "zap-01", "instancia=zap%zz"),
    ("trailing percent", "zap-01", "instancia=zap%"),
]


@pytest.fixture
def cast(make_alert, as_administrator):
    """An instance, an alert about it, and a logged-in administrator (who may do everything)."""
    return {"name": "zap-01", "alert": make_alert("zap-01").pk}, as_administrator


def address(template: str, cast_values: dict, name: str, query: str) -> str:
    path = template.format(name=name, alert=cast_values["alert"])
    return f"{path}?{query}" if query else path


EVERY_ROUTE = [(m, r, "text/html") for m, r in PAGES] + [(m, r, "application/json") for m, r in API]
NUL_IN_PATH, NUL_IN_QUERY = BAD_ADDRESSES[0], BAD_ADDRESSES[4]


def refused(client, method: str, url: str, content_type: str) -> None:
    response = getattr(client, method)(url, content_type="application/json")
    assert response.status_code == 400, url
    assert response["Content-Type"].startswith(content_type)
    if content_type == "application/json":
        assert response.json()["detail"].startswith("Endereço inválido")
    else:
        assert "Endereço inválido" in response.content.decode()


@pytest.mark.parametrize(("method", "route", "content_type"), EVERY_ROUTE)
@pytest.mark.parametrize(("problem", "name", "query"), [NUL_IN_PATH, NUL_IN_QUERY], ids=["path", "query"])
def test_every_route_refuses_a_nul_with_a_400_in_portuguese(cast, method, route, content_type, problem, name, query):
    values, client = cast
    if "{name}" not in route:
        query = query or "x=%00"
    refused(client, method, address(route, values, name, query), content_type)


@pytest.mark.parametrize(("method", "route", "content_type"), [EVERY_ROUTE[2], EVERY_ROUTE[len(PAGES) + 1]])
@pytest.mark.parametrize(("problem", "name", "query"), BAD_ADDRESSES, ids=[b[0] for b in BAD_ADDRESSES])
def test_every_kind_of_bad_address_is_refused(cast, method, route, content_type, problem, name, query):
    values, client = cast
    refused(client, method, address(route, values, name, query), content_type)


def test_nothing_changes_when_an_action_has_a_bad_address(cast):
    values, client = cast
    client.post(f"/alertas/{values['alert']}/resolver/?next=%00", {"nota": "ok"})
    assert AlertEvent.objects.filter(kind=EventKind.RESOLVED).count() == 0


def test_an_anonymous_visitor_gets_the_same_400_not_a_login_redirect(client, db):
    response = client.get("/instancias/zap%00/")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "query",
    ["instancia=zap-%C3%A7%C3%A3o", "instancia=a%26b%3Dc", "instancia=com+espa%C3%A7o", "estado=firing&pagina=2"],
)
def test_good_addresses_with_accents_and_escapes_still_work(as_viewer, make_alert, query):
    make_alert("zap-ção")
    response = as_viewer.get(f"/alertas/?{query}")
    assert response.status_code in (200, 400)  # 400 only for an unknown instance, as a form error
    assert "Endereço inválido" not in response.content.decode()
    assert as_viewer.get("/instancias/zap-%C3%A7%C3%A3o/").status_code == 200


# --- Forms --------------------------------------------------------------------------------------


@pytest.mark.parametrize("note", ["a\x00b", "linha\nforjada", "cor\x1b[31m", "tab\taqui", "sep\u2028x", "c1\x85"])
@pytest.mark.parametrize("action", ["reconhecer", "resolver"])
def test_a_note_with_control_characters_is_a_form_error_and_changes_nothing(cast, note, action):
    values, client = cast
    response = client.post(f"/alertas/{values['alert']}/{action}/", {"nota": note})
    assert response.status_code == 400
    assert "A nota não pode ter caracteres de controle" in response.content.decode()
    assert AlertEvent.objects.filter(kind__in=[EventKind.ACKNOWLEDGED, EventKind.RESOLVED]).count() == 0


def test_a_plain_note_still_works(cast):
    values, client = cast
    response = client.post(f"/alertas/{values['alert']}/reconhecer/", {"nota": "  olhando, já volto  "})
    assert response.status_code == 302
    assert AlertEvent.objects.get(kind=EventKind.ACKNOWLEDGED).detail.endswith("olhando, já volto")


def test_a_login_with_a_nul_in_the_name_is_a_form_error(client, db):
    response = client.post("/entrar/", {"username": "ana\x00", "password": "x"})
    assert response.status_code == 200
    assert "Usuário ou senha incorretos" in response.content.decode()


# --- Hostile names on the pages -----------------------------------------------------------------

NAMES = ["<script>alert(1)</script>", "zap'\"><img src=x onerror=alert(1)>", "*negrito* _it_ `c`"]


@pytest.mark.parametrize("name", NAMES)
def test_pages_show_hostile_names_escaped(as_viewer, make_alert, name):
    alert = make_alert(name)
    pages = ["/", "/frota/parcial", "/alertas/", f"/alertas/{alert.pk}/"]
    if "/" not in name:  # a name with "/" has no page of its own (the path's <str:nome> stops at "/")
        pages.append(f"/instancias/{quote(name, safe='')}/")
    for page in pages:
        response = as_viewer.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert "<script>alert(1)" not in html, page
        assert "<img src=x" not in html, page
    assert alert.state == AlertState.FIRING
