"""The overview's filters and pages: by status (or every problem), a search by name or number, in the
query string of a plain GET form, a page at a time; bad values get a message, never a 500."""

from __future__ import annotations

import pytest

from instances.models import Instance, Status
from tests.instances.support import attr, find, find_all, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(make_instance) -> dict[str, Instance]:
    cast = [
        ("sp-centro", Status.CONNECTED, "5511988880001"),
        ("sp-norte", Status.CONNECTED, "5511988880002"),
        ("rj-praia", Status.DISCONNECTED, "5521977770003"),
        ("rj-serra", Status.BANNED, "5521977770004"),
        ("mg-vale", Status.CONNECTING, "5531966660005"),
    ]
    return {name: make_instance(name, status=status, phone_number=phone) for name, status, phone in cast}


def shown(content: bytes) -> list[str]:
    return [attr(row, "data-instance") for row in find_all(content, "data-instance")]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["rj-serra", "rj-praia", "mg-vale", "sp-centro", "sp-norte"]),  # problems first, the worst first
        ("status=banned", ["rj-serra"]),
        ("status=connected", ["sp-centro", "sp-norte"]),
        ("status=problemas", ["rj-serra", "rj-praia", "mg-vale"]),
        ("status=banned,disconnected", ["rj-serra", "rj-praia"]),
        ("busca=RJ-", ["rj-serra", "rj-praia"]),  # by name, whatever the case
        ("busca=977770003", ["rj-praia"]),  # by number
        ("busca=%2B55+(21)+97777-0004", ["rj-serra"]),  # a number as people write it
        ("status=connected&busca=norte", ["sp-norte"]),
        ("busca=ninguém", []),
    ],
)
def test_the_overview_lists_what_the_filter_asks_for(as_viewer, fleet, query, names) -> None:
    response = as_viewer.get(f"/?{query}")

    assert response.status_code == 200
    assert shown(response.content) == names
    # The summary stays the whole fleet's.
    assert text(find(response.content, "id", "fleet-status")) == "Degradada 2 de 5 online"
    if not names:
        assert text(find(response.content, "id", "fleet-empty")) == "Nenhuma instância com este filtro."


def test_the_summary_counts_each_status_with_a_link_to_it(as_viewer, fleet) -> None:
    content = as_viewer.get("/").content

    counts = {attr(a, "data-count"): (text(a), attr(a, "href")) for a in find_all(content, "data-count")}

    assert counts["problemas"] == ("Com problema: 3", "/?status=problemas")
    assert counts["banned"] == ("⛔ Banida: 1", "/?status=banned")
    assert counts["connected"] == ("🟢 Conectada: 2", "/?status=connected")
    assert counts["unknown"] == ("❓ Desconhecida: 0", "/?status=unknown")


def test_the_form_keeps_the_filter_and_the_refresh_keeps_it_too(as_viewer, fleet) -> None:
    content = as_viewer.get("/?status=problemas&busca=rj").content

    form = find(content, "id", "fleet-filters")
    assert (attr(form, "method"), attr(form, "action")) == ("get", "/")
    chosen = [attr(o, "value") for o in find_all(content, "selected")]
    assert chosen == ["problemas"]
    assert attr(find(content, "id", "fleet-filter-search"), "value") == "rj"
    refresh_url = attr(find(content, "id", "fleet-live"), "data-refresh-url")
    assert refresh_url == "/frota/parcial?status=problemas&busca=rj"
    assert shown(as_viewer.get(refresh_url).content) == ["rj-serra", "rj-praia"]


def test_a_large_fleet_is_read_a_page_at_a_time_with_links_that_keep_the_filter(as_viewer, fleet, settings) -> None:
    settings.OVERVIEW_PER_PAGE = 2

    first = as_viewer.get("/").content
    second = as_viewer.get("/?pagina=2").content
    last = as_viewer.get("/?pagina=3").content
    filtered = as_viewer.get("/?status=problemas&pagina=2").content

    assert shown(first) == ["rj-serra", "rj-praia"]
    assert shown(second) == ["mg-vale", "sp-centro"]
    assert shown(last) == ["sp-norte"]
    pages = find(second, "id", "fleet-pages")
    assert "5 instâncias · página 2 de 3" in text(pages)
    links = {attr(a, "rel") or text(a): attr(a, "href") for a in find_all(second, "href") if a in pages.children}
    assert links["prev"] == "/?pagina=1" and links["next"] == "/?pagina=3"
    assert shown(filtered) == ["mg-vale"]
    assert "3 de 5 instâncias com este filtro · página 2 de 2" in text(find(filtered, "id", "fleet-pages"))
    assert attr(find(filtered, "rel", "prev"), "href") == "/?status=problemas&pagina=1"
    assert attr(find(filtered, "id", "fleet-live"), "data-refresh-url") == "/frota/parcial?status=problemas&pagina=2"
    assert shown(as_viewer.get("/?por_pagina=4").content) == ["rj-serra", "rj-praia", "mg-vale", "sp-centro"]


def test_a_page_past_the_last_says_how_many_pages_there_are(as_viewer, fleet, settings) -> None:
    settings.OVERVIEW_PER_PAGE = 2

    content = as_viewer.get("/?pagina=9").content

    assert shown(content) == []
    assert text(find(content, "id", "fleet-empty")) == "Esta página passou da última: há 3 páginas."


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=online", "status deve ser um destes"),
        ("pagina=0", "pagina deve ser um número inteiro de 1 a"),
        ("pagina=dois", "pagina deve ser um número inteiro de 1 a"),
        ("por_pagina=5000", "por_pagina deve ser um número inteiro de 1 a 1000"),
        ("busca=" + "x" * 101, "busca deve ter no máximo 100 caracteres"),
    ],
)
def test_a_bad_filter_gets_a_message_and_the_whole_fleet(as_viewer, fleet, query, message) -> None:
    page = as_viewer.get(f"/?{query}")
    partial = as_viewer.get(f"/frota/parcial?{query}")

    assert page.status_code == 400
    error = text(find(page.content, "id", "fleet-filter-error"))
    assert error.startswith("Filtro inválido: " + message) and error.endswith("Mostrando a frota sem filtro.")
    assert len(shown(page.content)) == 5
    assert attr(find(page.content, "id", "fleet-live"), "data-refresh-url") == "/frota/parcial"
    assert partial.status_code == 400
    assert message in partial.content.decode()


def test_a_filter_that_finds_nothing_refreshes_its_sentence_when_the_fleet_changes(as_viewer, fleet, settings) -> None:
    settings.OVERVIEW_PER_PAGE = 2
    page = as_viewer.get("/?status=unknown&pagina=2").content
    assert text(find(page, "id", "fleet-empty")) == "Nenhuma instância com este filtro."
    version = attr(find(page, "class", "live-body"), "data-version")
    for name in ("sp-centro", "sp-norte"):
        Instance.objects.filter(name=name).update(last_read_at=None)  # never read: shown unknown

    again = as_viewer.get(f"/frota/parcial?status=unknown&pagina=2&versao={version}").content

    assert text(find(b"<div>" + again + b"</div>", "id", "fleet-empty")) == "Esta página passou da última: há 1 página."
