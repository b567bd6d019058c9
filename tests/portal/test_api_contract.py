"""The JSON API against the product contract, written down here in the project's own words.

Each shape below maps a key to what its value must look like: a type, a pattern, one of a set
of values, a nested shape, or a list of rows of one shape. Keys beside the contract's are
allowed (the API adds a few that help); a missing key, or a value in another format, is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from instances.models import CheckCycle, Doctor, Instance, Status

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=SP)

# --- The formats ---------------------------------------------------------------------------------

ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$")
USED_OF_CAPACITY = re.compile(r"^\d+/\d+$")  # "12/20"
PERCENT = re.compile(r"^\d+\.\d%$")  # "60.0%"
ONLINE_OF_TOTAL = re.compile(r"^\d+/\d+ online$")  # "8/12 online"
CLOSED_OF_TOTAL = re.compile(r"^\d+/\d+ closed$")  # "1/1 closed"
STATUS_EMOJI = {"connected": "🟢", "disconnected": "🔴", "banned": "⛔", "connecting": "🟡", "unknown": "❓"}
FLEET_STATUSES = {"healthy", "warning", "degraded", "critical"}


@dataclass(frozen=True)
class OneOf:
    values: frozenset[Any]


@dataclass(frozen=True)
class OrNull:
    shape: Any


@dataclass(frozen=True)
class Rows:
    shape: Any


# --- The contract --------------------------------------------------------------------------------

FLEET_ROW = {
    "nome": str,
    "numero": str,
    "status": OneOf(frozenset(STATUS_EMOJI)),
    "status_emoji": OneOf(frozenset(STATUS_EMOJI.values())),
    "msgs_hora": USED_OF_CAPACITY,
    "msgs_dia": USED_OF_CAPACITY,
    "carga": PERCENT,
    "ultima_msg": OrNull(ISO_8601),
}
FLEET = {
    "status": OneOf(frozenset(FLEET_STATUSES)),
    "timestamp": ISO_8601,
    "resumo": {
        "total_instancias": int,
        "online": int,
        "offline": int,
        "banidas": int,
        "capacidade_dia": int,
        "enviadas_hoje": int,
        "capacidade_usada_pct": PERCENT,
    },
    "instancias": Rows(FLEET_ROW),
}
INSTANCE = {
    "nome": str,
    "numero": str,
    "status": OneOf(frozenset(STATUS_EMOJI)),
    "capacidade": {"hora": int, "dia": int},
    "uso": {"msgs_hora": int, "msgs_dia": int, "carga_pct": float},
    "medicos_atribuidos": int,
    "ultima_msg": OrNull(ISO_8601),
}
HEALTH = {
    "status": OneOf(frozenset({"healthy", "degraded"})),
    # The contract's fourth check ("supabase") is this project's database.
    "checks": {"instancias": bool, "circuits": bool, "redis": bool, "database": bool},
    "details": {"instancias": ONLINE_OF_TOTAL, "circuits": CLOSED_OF_TOTAL},
}
USAGE_REPORT = {
    "instancia": str,
    "contabilizada": bool,
    "quantidade": int,
    "uso": {"msgs_hora": int, "msgs_dia": int, "carga_pct": float},
}


def mismatches(value: Any, shape: Any, where: str = "") -> list[str]:
    """Return every way ``value`` differs from ``shape`` (empty when it matches)."""
    here = where or "corpo"
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{here}: esperado um objeto, veio {value!r}"]
        found = []
        for key, inner in shape.items():
            if key not in value:
                found.append(f"{here}: falta a chave {key!r}")
            else:
                found.extend(mismatches(value[key], inner, f"{where}.{key}" if where else key))
        return found
    if isinstance(shape, Rows):
        if not isinstance(value, list):
            return [f"{here}: esperada uma lista, veio {value!r}"]
        return [problem for n, row in enumerate(value) for problem in mismatches(row, shape.shape, f"{where}[{n}]")]
    if isinstance(shape, OrNull):
        return [] if value is None else mismatches(value, shape.shape, where)
    if isinstance(shape, OneOf):
        return [] if value in shape.values else [f"{here}: {value!r} não é um de {sorted(shape.values)}"]
    if isinstance(shape, re.Pattern):
        ok = isinstance(value, str) and shape.fullmatch(value)
        return [] if ok else [f"{here}: {value!r} não tem o formato {shape.pattern}"]
    # bool is an int in Python, but not in the contract: 1 is no "true", and true is no count.
    ok = isinstance(value, shape) and (shape is bool or not isinstance(value, bool))
    return [] if ok else [f"{here}: esperado {shape.__name__}, veio {value!r}"]


def follows(body: Any, shape: Any) -> bool:
    problems = mismatches(body, shape)
    assert not problems, "\n".join(problems)
    return True


# --- The cast ------------------------------------------------------------------------------------


@pytest.fixture
def at_now() -> Iterator[time_machine.Coordinates]:
    """The clock stands at NOW for the fixtures and the test that ask for it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def number(make_instance: Any, name: str, status: str, **fields: Any) -> Instance:
    """An instance read by the gateway at NOW unless ``last_read_at`` says otherwise."""
    fields.setdefault("last_read_at", NOW)
    return make_instance(name, status=status, **fields)


@pytest.fixture
def mixed_fleet(make_instance: Any, at_now: Any) -> dict[str, Instance]:
    """Every status, a stale reading and some usage: zap-hot sent 12 of 20 this hour, 60 of 100 today."""
    fleet = {
        "zap-hot": number(make_instance, "zap-hot", Status.CONNECTED),
        "zap-idle": number(make_instance, "zap-idle", Status.CONNECTED),
        "zap-down": number(make_instance, "zap-down", Status.DISCONNECTED),
        "zap-ban": number(make_instance, "zap-ban", Status.BANNED),
        "zap-wait": number(make_instance, "zap-wait", Status.CONNECTING),
        "zap-late": number(make_instance, "zap-late", Status.CONNECTED, last_read_at=NOW - timedelta(minutes=10)),
    }
    fleet["zap-hot"].record_sent(count=48, at=NOW - timedelta(hours=3))
    fleet["zap-hot"].record_sent(count=12, at=NOW - timedelta(minutes=10))
    Doctor.objects.create(name="Dra. Ana", preferred_instance=fleet["zap-hot"])
    return fleet


# --- The checker itself --------------------------------------------------------------------------


def test_the_checker_catches_a_missing_key_a_wrong_format_and_a_wrong_type() -> None:
    old_detail = {
        "nome": "zap-01",
        "numero": "",
        "status": "connected",
        "capacidade": {"por_hora": 20, "por_dia": 100},
        "uso": {"msgs_enviadas_hora": 1, "msgs_enviadas_dia": 1, "carga_percentual": 5.0},
        "medicos_atribuidos": True,
        "ultima_msg": "ontem",
    }

    problems = mismatches(old_detail, INSTANCE)

    assert "capacidade: falta a chave 'hora'" in problems
    assert "uso: falta a chave 'carga_pct'" in problems
    assert "medicos_atribuidos: esperado int, veio True" in problems
    assert any(p.startswith("ultima_msg: 'ontem' não tem o formato") for p in problems)
    assert mismatches({"carga": "60%"}, {"carga": PERCENT}) == [r"carga: '60%' não tem o formato ^\d+\.\d%$"]


# --- GET /dashboard/instances ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_fleet_follows_the_contract_key_for_key_and_format_for_format(api_client: Client, mixed_fleet) -> None:
    body = api_client.get("/dashboard/instances").json()

    assert follows(body, FLEET)
    assert body["timestamp"].endswith("-03:00")  # the team's clock, São Paulo
    for row in body["instancias"]:
        assert row["status_emoji"] == STATUS_EMOJI[row["status"]]
    hot = next(row for row in body["instancias"] if row["nome"] == "zap-hot")
    assert (hot["msgs_hora"], hot["msgs_dia"], hot["carga"]) == ("12/20", "60/100", "60.0%")
    assert hot["ultima_msg"] == "2026-11-25T14:20:00-03:00"


@pytest.mark.django_db
def test_the_summary_counts_by_the_contract_rules(api_client: Client, mixed_fleet) -> None:
    resumo = api_client.get("/dashboard/instances").json()["resumo"]

    online, total, banned = resumo["online"], resumo["total_instancias"], resumo["banidas"]
    assert (total, online, banned) == (6, 2, 1)  # zap-late's reading is stale: not online
    assert resumo["offline"] == total - online - banned
    assert resumo["capacidade_dia"] == 200  # zap-hot and zap-idle only
    assert resumo["enviadas_hoje"] == 60
    assert resumo["capacidade_usada_pct"] == "30.0%"


@pytest.mark.django_db
def test_ten_numbers_five_banned_and_900_of_1000_sent_is_90_percent_and_a_warning(
    api_client: Client, make_instance, at_now
) -> None:
    for n in range(5):
        online = number(make_instance, f"zap-on-{n}", Status.CONNECTED, capacity_per_hour=100, capacity_per_day=200)
        online.record_sent(count=180, at=NOW - timedelta(hours=4))
        number(make_instance, f"zap-ban-{n}", Status.BANNED, capacity_per_hour=100, capacity_per_day=200)

    body = api_client.get("/dashboard/instances").json()

    assert follows(body, FLEET)
    assert body["resumo"] == {
        **body["resumo"],
        "total_instancias": 10,
        "online": 5,
        "offline": 0,
        "banidas": 5,
        "capacidade_dia": 1000,
        "enviadas_hoje": 900,
        "capacidade_usada_pct": "90.0%",
    }
    assert body["status"] == "warning"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fleet", "expected"),
    [
        ({"connected": 0, "disconnected": 3}, "critical"),
        ({"connected": 1, "disconnected": 3}, "degraded"),
        ({"connected": 2, "disconnected": 2}, "healthy"),
        ({"connected": 2, "stale": 3}, "degraded"),  # a stale reading is not online
        ({"stale": 2}, "critical"),
    ],
)
def test_the_fleet_status_follows_the_contract_rules(
    api_client: Client, make_instance, at_now, fleet, expected
) -> None:
    for kind, count in fleet.items():
        for n in range(count):
            if kind == "stale":
                number(make_instance, f"{kind}-{n}", Status.CONNECTED, last_read_at=NOW - timedelta(hours=1))
            else:
                number(make_instance, f"{kind}-{n}", kind)

    assert api_client.get("/dashboard/instances").json()["status"] == expected


@pytest.mark.django_db
def test_a_stale_reading_is_unknown_and_counted_neither_online_nor_in_capacity(
    api_client: Client, make_instance, at_now, settings
) -> None:
    settings.STATUS_STALE_AFTER_SECONDS = 180
    fresh = number(make_instance, "zap-fresh", Status.CONNECTED, last_read_at=NOW - timedelta(seconds=180))
    late = number(make_instance, "zap-late", Status.CONNECTED, last_read_at=NOW - timedelta(seconds=181))
    number(make_instance, "zap-ban-late", Status.BANNED, last_read_at=NOW - timedelta(hours=2))
    number(make_instance, "zap-never", Status.CONNECTED, last_read_at=None)
    fresh.record_sent(count=10, at=NOW - timedelta(hours=1))
    late.record_sent(count=30, at=NOW - timedelta(hours=1))

    body = api_client.get("/dashboard/instances").json()

    assert follows(body, FLEET)
    shown = {row["nome"]: (row["status"], row["status_emoji"]) for row in body["instancias"]}
    assert shown == {
        "zap-ban-late": ("unknown", "❓"),
        "zap-fresh": ("connected", "🟢"),
        "zap-late": ("unknown", "❓"),
        "zap-never": ("unknown", "❓"),
    }
    resumo = body["resumo"]
    assert (resumo["online"], resumo["banidas"], resumo["offline"]) == (1, 0, 3)
    assert (resumo["capacidade_dia"], resumo["enviadas_hoje"]) == (100, 40)  # sent counts, stale capacity does not
    assert resumo["capacidade_usada_pct"] == "40.0%"
    assert resumo["sem_leitura"] == 3  # beside the contract: how many are unknown for want of a reading
    late_row = next(row for row in body["instancias"] if row["nome"] == "zap-late")
    assert late_row["motivo_status"] == "sem leitura desde 14:26"
    assert late_row["ultima_leitura"] == "2026-11-25T14:26:59-03:00"


# --- GET /dashboard/instances/{nome} -----------------------------------------------------------------


@pytest.mark.django_db
def test_an_instance_follows_the_contract_key_for_key_and_format_for_format(api_client: Client, mixed_fleet) -> None:
    body = api_client.get("/dashboard/instances/zap-hot").json()

    assert follows(body, INSTANCE)
    assert body["capacidade"] == {"hora": 20, "dia": 100}
    assert body["uso"] == {"msgs_hora": 12, "msgs_dia": 60, "carga_pct": 60.0}
    assert (body["status"], body["medicos_atribuidos"]) == ("connected", 1)
    assert body["ultima_msg"] == "2026-11-25T14:20:00-03:00"


@pytest.mark.django_db
def test_an_idle_instance_has_a_float_load_and_a_null_last_message(api_client: Client, mixed_fleet) -> None:
    body = api_client.get("/dashboard/instances/zap-idle").json()

    assert follows(body, INSTANCE)
    assert (body["uso"]["carga_pct"], body["ultima_msg"]) == (0.0, None)


@pytest.mark.django_db
def test_an_instance_with_a_stale_reading_is_unknown_in_its_detail(api_client: Client, mixed_fleet) -> None:
    body = api_client.get("/dashboard/instances/zap-late").json()

    assert follows(body, INSTANCE)
    assert body["status"] == "unknown"
    assert body["motivo_status"] == "sem leitura desde 14:20"


@pytest.mark.django_db
def test_an_unknown_name_is_a_404_in_portuguese(api_client: Client, mixed_fleet) -> None:
    response = api_client.get("/dashboard/instances/nao-existe")

    assert response.status_code == 404
    assert response.json() == {"detail": "Instância não encontrada"}


# --- GET /dashboard/health ----------------------------------------------------------------------------


@pytest.fixture
def twelve_numbers(make_instance: Any, at_now: Any) -> None:
    """Twelve active numbers, eight of them read online just now, one more online but stale; a recent cycle."""
    for n in range(8):
        number(make_instance, f"zap-on-{n}", Status.CONNECTED)
    number(make_instance, "zap-late", Status.CONNECTED, last_read_at=NOW - timedelta(minutes=10))
    number(make_instance, "zap-down", Status.DISCONNECTED)
    number(make_instance, "zap-ban", Status.BANNED)
    number(make_instance, "zap-wait", Status.CONNECTING)
    number(make_instance, "zap-off", Status.CONNECTED, is_active=False)  # not part of the fleet
    CheckCycle.objects.create(started_at=NOW - timedelta(seconds=40), finished_at=NOW - timedelta(seconds=35))


@pytest.mark.django_db
def test_health_follows_the_contract_in_its_own_words(client: Client, twelve_numbers) -> None:
    response = client.get("/dashboard/health")  # public: no key, no login

    body = response.json()
    assert follows(body, HEALTH)
    assert (response.status_code, body["status"]) == (200, "healthy")
    assert body["details"]["instancias"] == "8/12 online"
    assert body["details"]["circuits"] == "1/1 closed"
    assert all(body["checks"].values())


@pytest.mark.django_db
def test_health_is_degraded_with_503_when_no_number_is_online_by_a_fresh_reading(
    client: Client, twelve_numbers
) -> None:
    Instance.objects.filter(name__startswith="zap-on-").update(last_read_at=NOW - timedelta(hours=1))

    response = client.get("/dashboard/health")

    body = response.json()
    assert follows(body, HEALTH)
    assert (response.status_code, body["status"]) == (503, "degraded")
    assert (body["checks"]["instancias"], body["details"]["instancias"]) == (False, "0/12 online")


# --- POST /dashboard/instances/{nome}/uso ----------------------------------------------------------


@pytest.mark.django_db
def test_a_usage_report_follows_the_contract(api_client: Client, mixed_fleet) -> None:
    response = api_client.post(
        "/dashboard/instances/zap-hot/uso", data={"quantidade": 2}, content_type="application/json"
    )

    body = response.json()
    assert follows(body, USAGE_REPORT)
    assert body == {
        "instancia": "zap-hot",
        "contabilizada": True,
        "quantidade": 2,
        "uso": {"msgs_hora": 14, "msgs_dia": 62, "carga_pct": 70.0},
    }
