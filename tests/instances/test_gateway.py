"""The Evolution client: its settings, and listing, probing and connecting, with every kind of failure.

Network behaviour runs against the real gateway simulator on a loopback port, not mocks; parsing
and the status mapping are in ``test_gateway_parsing.py``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from instances.gateway import (
    EvolutionClient,
    GatewayErrorKind,
    GatewayInstance,
    GatewayUnavailable,
    InstanceRequestFailed,
    ProbeFailure,
    ProbeResult,
    gateway_failure,
)
from instances.gateway.states import Observation, resolve
from instances.models import Instance, Status
from tests.fakes.common import closed_port
from tests.instances.support import API_KEY
from tests.support import PROBE_TIMEOUT


def resolve_of(probe: ProbeResult, instance: Instance) -> Observation:
    """What the cycle makes of an answered probe for ``instance``."""
    return resolve(probe.state, probe.code, instance)


def test_the_client_reads_its_defaults_from_settings(settings) -> None:
    settings.EVOLUTION_API_URL = "http://evo.example:8080/"
    settings.EVOLUTION_API_KEY = "k"
    settings.EVOLUTION_TIMEOUT = 2.5
    settings.EVOLUTION_CONCURRENCY = 7

    client = EvolutionClient()

    assert (client.base_url, client.api_key, client.timeout, client.concurrency) == (
        "http://evo.example:8080",
        "k",
        2.5,
        7,
    )
    assert "k" not in repr(client)


# --- Against the simulator -----------------------------------------------------------------------


@pytest.fixture
def client(sim) -> EvolutionClient:
    return EvolutionClient(sim.url, API_KEY, timeout=PROBE_TIMEOUT, concurrency=20)


def test_it_lists_the_fleet_with_phone_numbers_and_disconnections(sim, client) -> None:
    sim.add_instance("zap-01", state="open", phone_number="5511999990001")
    sim.add_instance("zap-02", state="close", disconnection_code=403)

    rows = {row.name: row for row in fetch(client)}

    assert rows["zap-01"].phone_number == "5511999990001"
    assert rows["zap-01"].disconnection_code is None
    assert rows["zap-02"].disconnection_code == 403
    assert datetime.now(UTC) - rows["zap-02"].disconnection_at < timedelta(minutes=1)


def test_it_lists_a_v1_gateway_too() -> None:
    from instances.simulator import GatewaySimulator

    with GatewaySimulator(api_key=API_KEY, shape="v1") as sim:
        sim.add_instance("zap-01", state="open", phone_number="5511999990001")
        sim.add_instance("zap-02", state="connecting")
        client = EvolutionClient(sim.url, API_KEY, timeout=1)

        rows = {row.name: row for row in fetch(client)}
        probes = client.probe_all(["zap-01", "zap-02"])

    assert rows["zap-01"].phone_number == "5511999990001"
    assert set(rows) == {"zap-01", "zap-02"}
    assert probes["zap-01"].status == Status.CONNECTED
    assert probes["zap-02"].status == Status.CONNECTING


def test_it_probes_the_live_state_of_every_instance(sim, client) -> None:
    sim.add_instance("zap-01", state="open")
    sim.add_instance("zap-02", state="connecting")
    sim.add_instance("zap-03", state="open")
    sim.set_state("zap-03", "close")  # a transient drop: no code

    probes = client.probe_all(["zap-01", "zap-02", "zap-03"])

    assert {name: p.status for name, p in probes.items()} == {
        "zap-01": Status.CONNECTED,
        "zap-02": Status.CONNECTING,
        "zap-03": Status.DISCONNECTED,
    }
    assert all(p.ok and p.http_status == 200 for p in probes.values())


def fetch(client: EvolutionClient) -> list[GatewayInstance]:
    return asyncio.run(client.afetch_instances())


def synced(row: GatewayInstance, seen_connected: datetime | None) -> Instance:
    """The instance as the cycle holds it after syncing ``row``: its code first seen now."""
    return Instance(
        name=row.name,
        disconnection_code=row.disconnection_code,
        disconnection_at=row.disconnection_at,
        disconnection_seen_at=datetime.now(UTC) if row.disconnection_code else None,
        last_seen_connected_at=seen_connected,
    )


@pytest.mark.parametrize(("code", "status"), [(402, Status.BANNED), (403, Status.BANNED), (406, Status.BANNED)])
def test_a_ban_on_the_gateway_reads_as_banned(sim, client, code: int, status: Status) -> None:
    sim.add_instance("zap-01", state="open")
    seen_connected = datetime.now(UTC) - timedelta(seconds=5)
    sim.set_state("zap-01", "close", code=code)

    row = next(r for r in fetch(client) if r.name == "zap-01")
    result = client.probe_all(["zap-01"])["zap-01"]

    assert resolve_of(result, synced(row, seen_connected)).status == status


def test_a_logout_on_the_gateway_reads_as_disconnected(sim, client) -> None:
    sim.add_instance("zap-01", state="open")
    seen_connected = datetime.now(UTC) - timedelta(seconds=5)
    sim.set_state("zap-01", "close", code=401)

    row = next(r for r in fetch(client) if r.name == "zap-01")
    result = client.probe_all(["zap-01"])["zap-01"]

    assert resolve_of(result, synced(row, seen_connected)).status == Status.DISCONNECTED


def test_a_re_paired_instance_keeps_its_old_ban_code_but_reads_as_connected(sim, client) -> None:
    sim.add_instance("zap-01", state="close", disconnection_code=403)
    sim.set_state("zap-01", "open")

    row = next(r for r in fetch(client) if r.name == "zap-01")
    result = client.probe_all(["zap-01"])["zap-01"]

    assert row.disconnection_code == 403
    assert resolve_of(result, synced(row, None)).status == Status.CONNECTED


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        ("error_body", ProbeFailure.ERROR_BODY),
        ("not_found", ProbeFailure.NOT_FOUND),
        ("http500", ProbeFailure.SERVER_ERROR),
    ],
)
def test_one_broken_instance_fails_alone(sim, client, fault: str, failure: ProbeFailure) -> None:
    sim.add_instance("zap-01", state="open")
    sim.add_instance("zap-02", state="open")
    sim.set_fault("zap-02", fault)

    probes = client.probe_all(["zap-01", "zap-02"])

    assert probes["zap-01"].ok
    assert not probes["zap-02"].ok
    assert probes["zap-02"].failure == failure
    assert probes["zap-02"].error
    assert gateway_failure(probes.values()) is None


def test_an_instance_the_gateway_does_not_know_is_not_found(sim, client) -> None:
    result = client.probe_all(["ghost"])["ghost"]

    assert (result.ok, result.failure, result.http_status) == (False, ProbeFailure.NOT_FOUND, 404)


def test_a_hanging_instance_times_out_without_delaying_the_others(sim, client) -> None:
    sim.add_instances(40)
    sim.set_fault("sim-007", "hang")
    names = [f"sim-{i:03d}" for i in range(1, 41)]

    started = time.monotonic()
    probes = client.probe_all(names)
    elapsed = time.monotonic() - started

    assert elapsed < client.timeout + 0.5
    assert probes["sim-007"].failure == ProbeFailure.TIMEOUT
    assert sum(p.ok for p in probes.values()) == 39


@pytest.mark.parametrize(
    ("fault", "kind", "http_status"),
    [
        ("license_required", GatewayErrorKind.LICENSE_REQUIRED, 503),
        ("http500", GatewayErrorKind.SERVER_ERROR, 500),
        ("down", GatewayErrorKind.UNREACHABLE, None),
    ],
)
def test_a_broken_gateway_is_a_gateway_problem_for_the_list_and_the_probes(
    sim, client, fault: str, kind: GatewayErrorKind, http_status: int | None
) -> None:
    sim.add_instance("zap-01", state="open")
    sim.add_instance("zap-02", state="open")
    sim.set_gateway_fault(fault)

    with pytest.raises(GatewayUnavailable) as raised:
        fetch(client)
    probes = client.probe_all(["zap-01", "zap-02"])

    assert (raised.value.kind, raised.value.http_status) == (kind, http_status)
    assert not raised.value.permanent
    assert gateway_failure(probes.values()).kind == kind


def test_a_closed_port_is_unreachable_and_fails_fast() -> None:
    client = EvolutionClient(f"http://127.0.0.1:{closed_port()}", API_KEY, timeout=3)

    started = time.monotonic()
    with pytest.raises(GatewayUnavailable) as raised:
        fetch(client)
    probes = client.probe_all(["zap-01", "zap-02"])

    assert raised.value.kind == GatewayErrorKind.UNREACHABLE
    assert gateway_failure(probes.values()).kind == GatewayErrorKind.UNREACHABLE
    assert time.monotonic() - started < 2


def test_a_wrong_api_key_is_a_permanent_gateway_problem(sim) -> None:
    sim.add_instance("zap-01", state="open")
    client = EvolutionClient(sim.url, "wrong-key", timeout=1)

    with pytest.raises(GatewayUnavailable) as raised:
        fetch(client)

    assert raised.value.kind == GatewayErrorKind.UNAUTHORIZED
    assert raised.value.permanent
    assert gateway_failure(client.probe_all(["zap-01"]).values()).permanent


def test_connect_returns_the_qr_of_a_closed_instance(sim, client) -> None:
    sim.add_instance("zap-01", state="close")

    qr = client.connect("zap-01")

    assert {"code", "base64"} <= qr.keys()


def test_connect_treats_a_200_that_says_error_as_a_failure(sim, client) -> None:
    sim.add_instance("zap-01", state="close")
    sim.set_fault("zap-01", "error_body")

    with pytest.raises(InstanceRequestFailed) as raised:
        client.connect("zap-01")

    assert raised.value.failure == ProbeFailure.ERROR_BODY


def test_connect_to_an_unknown_instance_is_not_found(sim, client) -> None:
    with pytest.raises(InstanceRequestFailed) as raised:
        client.connect("ghost")

    assert raised.value.failure == ProbeFailure.NOT_FOUND
