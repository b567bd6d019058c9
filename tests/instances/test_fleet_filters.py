"""instances.fleet_filters: the one fleet filter of the API and the overview page, on plain rows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from instances.fleet_filters import FleetQuery, FleetQueryError


@dataclass(frozen=True)
class Row:
    name: str
    phone_number: str
    shown_status: str


ROWS = [
    Row("julia-sp-01", "5511999990001", "connected"),
    Row("Julia-RJ-02", "5521988880002", "banned"),
    Row("julia-df-03", "5561977770003", "unknown"),
    Row("julia-mg-04", "5531966660004", "connecting"),
    Row("julia-ba-05", "5571955550005", "disconnected"),
]


def names(query: FleetQuery) -> list[str]:
    return [r.name for r in query.select(ROWS).rows]


def test_no_parameters_list_every_row_in_order() -> None:
    page = FleetQuery.parse().select(ROWS)

    assert [r.name for r in page.rows] == [r.name for r in ROWS]
    assert (page.total, page.page, page.pages) == (5, 1, 1)


def test_problems_are_every_status_but_connected() -> None:
    assert names(FleetQuery.parse(["problemas"])) == ["Julia-RJ-02", "julia-df-03", "julia-mg-04", "julia-ba-05"]


def test_statuses_repeat_or_take_commas() -> None:
    assert names(FleetQuery.parse(["banned", "unknown"])) == ["Julia-RJ-02", "julia-df-03"]
    assert names(FleetQuery.parse(["banned,unknown"])) == ["Julia-RJ-02", "julia-df-03"]


def test_the_search_ignores_case_and_reads_numbers_digit_by_digit() -> None:
    assert names(FleetQuery.parse(busca="JULIA-rj")) == ["Julia-RJ-02"]
    assert names(FleetQuery.parse(busca="+55 (61) 97777")) == ["julia-df-03"]
    assert names(FleetQuery.parse(busca="0004")) == ["julia-mg-04"]


def test_pages_cut_the_filtered_rows() -> None:
    page = FleetQuery.parse(["problemas"], pagina="2", por_pagina="3").select(ROWS)

    assert [r.name for r in page.rows] == ["julia-ba-05"]
    assert (page.total, page.page, page.per_page, page.pages) == (4, 2, 3, 2)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": ["online"]}, "status"),
        ({"status": ["connected, banned"]}, "status"),
        ({"busca": "zap\x00"}, "busca"),
        ({"busca": "x" * 101}, "busca"),
        ({"pagina": "0"}, "pagina"),
        ({"pagina": "-1"}, "pagina"),
        ({"pagina": "um"}, "pagina"),
        ({"por_pagina": "1001"}, "por_pagina"),
        ({"por_pagina": 0}, "por_pagina"),
    ],
)
def test_bad_parameters_are_refused_with_the_field_and_a_sentence(params: dict, field: str) -> None:
    with pytest.raises(FleetQueryError) as refused:
        FleetQuery.parse(**params)

    assert refused.value.field == field
    assert refused.value.message.startswith(field)
