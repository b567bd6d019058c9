"""GET /dashboard/instances pages (hypothesis): for random fleets and filters, the pages put together
are the filtered fleet, in the fleet's order, each instance once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instances.models import Instance, Status

NOW = datetime(2026, 11, 25, 14, 30, tzinfo=ZoneInfo("America/Sao_Paulo"))
URL = "/dashboard/instances"

# An instance: a name's prefix (mixed case, to try the search's case), a stored status, a stale reading.
instances = st.lists(
    st.tuples(st.sampled_from(["zap", "Zap", "julia", "JULIA-rj"]), st.sampled_from(Status.values), st.booleans()),
    max_size=12,
)
status_filters = st.lists(st.sampled_from([*Status.values, "problemas"]), max_size=3, unique=True)
searches = st.sampled_from(["", "zap", "ZAP", "julia-RJ", "1", "0000000", "+55 11 9", "nada"])


def shown(status: str, stale: bool) -> str:
    return Status.UNKNOWN if stale else status


def expected_statuses(asked: list[str]) -> set[str]:
    wanted = set(asked) - {"problemas"}
    if "problemas" in asked:
        wanted |= set(Status.values) - {Status.CONNECTED}
    return wanted or set(Status.values)


def found(search: str, name: str, number: str) -> bool:
    digits = "".join(c for c in search if c.isdigit())
    phone_like = digits and all(c.isdigit() or c in " +()-." for c in search)
    return search.casefold() in name.casefold() or search in number or bool(phone_like and digits in number)


@pytest.mark.django_db
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fleet=instances, asked=status_filters, search=searches, per_page=st.integers(1, 5), joined=st.booleans())
def test_the_pages_together_are_the_filtered_fleet_in_order(
    api_client: Client, fleet: list[tuple[str, str, bool]], asked: list[str], search: str, per_page: int, joined: bool
) -> None:
    Instance.objects.all().delete()
    with time_machine.travel(NOW, tick=False):
        for n, (prefix, status, stale) in enumerate(fleet):
            Instance.objects.create(
                name=f"{prefix}-{n:02}",
                phone_number=f"55119{n:08}",
                status=status,
                capacity_per_hour=20,
                capacity_per_day=100,
                last_read_at=NOW - timedelta(hours=1) if stale else NOW,
            )
        whole = api_client.get(URL).json()
        wanted = expected_statuses(asked)
        expected = [
            row["nome"]
            for row in whole["instancias"]
            if row["status"] in wanted and found(search.strip(), row["nome"], row["numero"])
        ]
        status_param = [",".join(asked)] if joined else asked
        params = {"status": status_param, "busca": search, "por_pagina": per_page}

        listed: list[str] = []
        first = api_client.get(URL, {**params, "pagina": 1}).json()
        for page in range(1, first["paginas"] + 2):  # one past the last: empty
            body = api_client.get(URL, {**params, "pagina": page}).json()
            assert body["resumo"] == whole["resumo"]
            assert body["total_filtrado"] == len(expected)
            assert len(body["instancias"]) <= per_page
            listed += [row["nome"] for row in body["instancias"]]

    assert listed == expected
    assert len(set(listed)) == len(listed)
    assert {r["status"] for r in whole["instancias"]} == {shown(status, stale) for _, status, stale in fleet}
