"""GET /dashboard/instances with status, busca, pagina and por_pagina: the fleet's rows filtered and
cut into pages, the fleet's summary untouched, and the spec's body when none is sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from instances.models import Instance, Status

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=SP)
URL = "/dashboard/instances"
PAGE_KEYS = {"pagina", "por_pagina", "paginas", "total_filtrado"}


@pytest.fixture
def fleet(make_instance) -> list[str]:
    """Seven active instances, one in every shown status, and one inactive; returns the active names."""
    with time_machine.travel(NOW, tick=False):
        make_instance("julia-sp-01", phone_number="5511999990001").record_sent(count=40)
        make_instance("julia-sp-02", phone_number="5511999990002")
        make_instance("Julia-RJ-01", phone_number="5521988880001", status=Status.DISCONNECTED)
        make_instance("julia-rj-02", phone_number="5521988880002", status=Status.BANNED)
        make_instance("julia-df-01", phone_number="5561977770001", status=Status.CONNECTING)
        make_instance("julia-ba-01", phone_number="5571966660001", status=Status.UNKNOWN)
        # Connected by a reading an hour old: shown, filtered and counted as unknown.
        make_instance("julia-mg-01", phone_number="5531955550001", last_read_at=NOW - timedelta(hours=1))
        make_instance("julia-off-01", phone_number="5511900000000", is_active=False)
    return sorted(Instance.objects.filter(is_active=True).values_list("name", flat=True))


def names(body: dict) -> list[str]:
    return [row["nome"] for row in body["instancias"]]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_without_parameters_the_body_is_the_spec_body_over_the_whole_fleet(api_client, fleet) -> None:
    body = api_client.get(URL).json()

    assert set(body) == {"status", "timestamp", "resumo", "instancias"}
    assert names(body) == fleet
    assert body["resumo"]["total_instancias"] == 7
    assert (body["resumo"]["online"], body["resumo"]["banidas"], body["resumo"]["sem_leitura"]) == (2, 1, 1)


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("connected", ["julia-sp-01", "julia-sp-02"]),
        ("disconnected", ["Julia-RJ-01"]),
        ("banned", ["julia-rj-02"]),
        ("connecting", ["julia-df-01"]),
        # The stale reading is unknown, whatever its stored status says.
        ("unknown", ["julia-ba-01", "julia-mg-01"]),
        ("problemas", ["Julia-RJ-01", "julia-ba-01", "julia-df-01", "julia-mg-01", "julia-rj-02"]),
        ("banned,disconnected", ["Julia-RJ-01", "julia-rj-02"]),
    ],
)
def test_each_shown_status_filters_the_rows(api_client, fleet, status: str, expected: list[str]) -> None:
    body = api_client.get(URL, {"status": status}).json()

    assert names(body) == expected
    assert {row["status"] for row in body["instancias"]} <= set(Status.values) - (
        {"connected"} if status == "problemas" else set()
    )


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_status_parameter_may_repeat(api_client, fleet) -> None:
    body = api_client.get(f"{URL}?status=banned&status=connecting").json()

    assert names(body) == ["julia-df-01", "julia-rj-02"]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("busca", "expected"),
    [
        ("RJ", ["Julia-RJ-01", "julia-rj-02"]),
        ("julia-SP-0", ["julia-sp-01", "julia-sp-02"]),
        ("99990002", ["julia-sp-02"]),
        ("+55 (21) 98888-0001", ["Julia-RJ-01"]),
        ("  mg  ", ["julia-mg-01"]),
        ("off", []),  # the inactive instance is never listed
        ("nada-disso", []),
    ],
)
def test_the_search_finds_a_part_of_the_name_or_the_number(api_client, fleet, busca: str, expected) -> None:
    assert names(api_client.get(URL, {"busca": busca}).json()) == expected


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_filters_combine_and_leave_the_summary_and_the_fleet_status_alone(api_client, fleet) -> None:
    whole = api_client.get(URL).json()

    problems_in_rio = api_client.get(URL, {"status": "problemas", "busca": "rj"}).json()
    nothing = api_client.get(URL, {"status": "banned", "busca": "sp", "pagina": 1}).json()

    assert names(problems_in_rio) == ["Julia-RJ-01", "julia-rj-02"]
    assert names(nothing) == []
    for body in (problems_in_rio, nothing):
        assert (body["resumo"], body["status"]) == (whole["resumo"], whole["status"])
    assert problems_in_rio["instancias"] == [r for r in whole["instancias"] if r["nome"] in names(problems_in_rio)]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_pages_cut_the_filtered_fleet_and_say_where_they_are(api_client, fleet) -> None:
    first = api_client.get(URL, {"por_pagina": 3}).json()
    last = api_client.get(URL, {"pagina": 3, "por_pagina": 3}).json()
    past = api_client.get(URL, {"pagina": 4, "por_pagina": 3}).json()

    assert names(first) == fleet[:3]
    assert names(last) == fleet[6:]
    assert names(past) == []
    assert {k: first[k] for k in PAGE_KEYS} == {"pagina": 1, "por_pagina": 3, "paginas": 3, "total_filtrado": 7}
    assert {k: past[k] for k in PAGE_KEYS} == {"pagina": 4, "por_pagina": 3, "paginas": 3, "total_filtrado": 7}
    assert first["resumo"] == past["resumo"]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_page_alone_is_a_hundred_rows_and_filters_alone_add_no_keys(api_client, fleet) -> None:
    paged = api_client.get(URL, {"pagina": 1, "status": "problemas"}).json()
    filtered = api_client.get(URL, {"status": "problemas"}).json()

    assert (paged["por_pagina"], paged["total_filtrado"], paged["paginas"]) == (100, 5, 1)
    assert set(filtered) == {"status", "timestamp", "resumo", "instancias"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "status", "field", "says"),
    [
        ({"status": "online"}, 422, "status", "status deve ser um destes: connected"),
        ({"status": "connected, banned"}, 422, "status", "status deve ser um destes"),
        ({"busca": "x" * 101}, 422, "busca", "no máximo 100"),
        ({"pagina": 0}, 422, "pagina", "pagina deve ser maior ou igual a 1"),
        ({"pagina": "dois"}, 422, "pagina", "pagina deve ser um número inteiro"),
        ({"por_pagina": 0}, 422, "por_pagina", "por_pagina deve ser maior ou igual a 1"),
        ({"por_pagina": 1001}, 422, "por_pagina", "por_pagina deve ser menor ou igual a 1000"),
    ],
)
def test_bad_parameters_are_a_4xx_that_names_the_field(api_client, params, status, field, says) -> None:
    response = api_client.get(URL, params)

    assert response.status_code == status
    body = response.json()
    assert says in body["detail"]
    assert [e["campo"] for e in body["erros"]] == [field]


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{"status": "banned\x00"}, {"busca": "zap\x00"}, {"busca": "zap\x1b[2J"}])
def test_control_characters_in_a_filter_are_a_400(api_client, params) -> None:
    response = api_client.get(URL, params)

    assert response.status_code == 400
    assert "caracteres de controle" in response.json()["detail"]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_query_count_does_not_grow_with_the_fleet_or_the_filters(api_client, make_instance) -> None:
    def queries(params: dict) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api_client.get(URL, params).status_code == 200
        return len(captured)

    api_client.get(URL)  # the key's first use records when it was used (a write at most once a minute)
    for n in range(5):
        make_instance(f"zap-{n:03}").record_sent(message_id=f"m{n}")
    small = [queries(p) for p in ({}, {"status": "problemas", "busca": "zap", "pagina": 2, "por_pagina": 2})]
    for n in range(5, 80):
        make_instance(f"zap-{n:03}", status=Status.BANNED).record_sent(message_id=f"m{n}")
    large = [queries(p) for p in ({}, {"status": "problemas", "busca": "zap", "pagina": 2, "por_pagina": 2})]

    assert small == large
    assert max(large) <= 5
