"""The Evolution client's parsing of both API shapes and its status mapping (pure functions, no network).

The client against the gateway simulator is in ``test_gateway.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from instances.gateway import (
    GatewayErrorKind,
    GatewayInstance,
    ProbeFailure,
    ProbeResult,
    gateway_failure,
    parse_instance_row,
)
from instances.gateway.states import Observation, reason_for, resolve
from instances.models import Instance, Status

# A real v2 fetchInstances row (docs/evolution.md §2.1), token shortened.
ELIAS_ROW = {
    "id": "347f2197-7026-489c-b3db-ac40a08c0e91",
    "name": "Elias",
    "connectionStatus": "close",
    "ownerJid": None,
    "number": None,
    "token": "9E3F517F-…",
    "disconnectionReasonCode": 401,
    "disconnectionObject": json.dumps(
        {
            "error": {
                "data": None,
                "isBoom": True,
                "output": {
                    "statusCode": 401,
                    "payload": {"statusCode": 401, "error": "Unauthorized", "message": "Log out instance: Elias"},
                },
            },
            "date": "2025-07-23T14:06:14.637Z",
        }
    ),
    "disconnectionAt": "2025-07-23T14:06:14.642Z",
}


def resolve_of(probe: ProbeResult, instance: Instance) -> Observation:
    """What the cycle makes of an answered probe for ``instance``."""
    return resolve(probe.state, probe.code, instance)


def probe(state: str | None, code: int | None = None) -> ProbeResult:
    return ProbeResult("zap-01", True, state=state, code=code)


# --- Parsing -------------------------------------------------------------------------------------


def test_it_parses_a_real_v2_row_with_its_double_encoded_disconnection() -> None:
    row = parse_instance_row(ELIAS_ROW)

    assert row == GatewayInstance(
        name="Elias",
        phone_number="",
        connection_status="close",
        disconnection_code=401,
        disconnection_at=datetime(2025, 7, 23, 14, 6, 14, 642000, tzinfo=UTC),
        disconnection_reason="Log out instance: Elias",
    )


def test_it_takes_the_phone_number_from_the_owner_jid_without_the_whatsapp_suffix() -> None:
    assert parse_instance_row({"name": "a", "ownerJid": "556592298724@s.whatsapp.net"}).phone_number == "556592298724"
    assert parse_instance_row({"name": "a", "ownerJid": "5511999990001:12@s.whatsapp.net"}).phone_number == (
        "5511999990001"
    )
    assert parse_instance_row({"name": "a", "number": "5511988887777", "ownerJid": None}).phone_number == (
        "5511988887777"
    )


def test_it_names_the_conflict_of_a_stream_error() -> None:
    boom = {
        "error": {
            "data": {
                "tag": "stream:error",
                "attrs": {"code": "401"},
                "content": [{"tag": "conflict", "attrs": {"type": "device_removed"}}],
            }
        }
    }
    row = parse_instance_row({"name": "a", "disconnectionReasonCode": 401, "disconnectionObject": json.dumps(boom)})

    assert row.disconnection_reason == "conflict: device_removed"


def test_it_tolerates_garbage_in_the_disconnection_fields() -> None:
    row = parse_instance_row(
        {"name": "a", "disconnectionReasonCode": "x", "disconnectionObject": "{not json", "disconnectionAt": "ontem"}
    )
    assert (row.disconnection_code, row.disconnection_at, row.disconnection_reason) == (None, None, "")

    row = parse_instance_row({"name": "a", "disconnectionReasonCode": 403, "disconnectionObject": '"just a string"'})
    assert (row.disconnection_code, row.disconnection_reason) == (403, "")


def test_it_parses_the_v1_row_shape() -> None:
    row = parse_instance_row(
        {"instance": {"instanceName": "zap-v1", "owner": "5511999990009@s.whatsapp.net", "status": "open"}}
    )

    assert row == GatewayInstance(name="zap-v1", phone_number="5511999990009", connection_status="open")


@pytest.mark.parametrize("row", [None, [], "zap", {}, {"name": ""}, {"instance": {"status": "open"}}])
def test_it_skips_rows_without_a_name(row: object) -> None:
    assert parse_instance_row(row) is None


# --- Status mapping ------------------------------------------------------------------------------


def instance(
    code: int | None = None, seen_at: datetime | None = None, seen_connected: datetime | None = None
) -> Instance:
    """An instance as the cycle holds it once the gateway's row is synced (no database needed)."""
    return Instance(
        name="zap-01",
        disconnection_code=code,
        disconnection_reason=reason_for(code),
        disconnection_seen_at=seen_at,
        last_seen_connected_at=seen_connected,
    )


SEEN_CONNECTED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("open", Status.CONNECTED),
        ("connecting", Status.CONNECTING),
        ("close", Status.DISCONNECTED),
        ("refused", Status.DISCONNECTED),
        (None, Status.UNKNOWN),
        ("sleeping", Status.UNKNOWN),
    ],
)
def test_it_maps_each_live_state(state: str | None, status: Status) -> None:
    assert resolve_of(probe(state), instance()).status == status


@pytest.mark.parametrize("code", [402, 403, 406])
def test_a_close_with_a_ban_code_first_seen_after_the_last_connection_is_a_ban(code: int) -> None:
    seen = resolve_of(probe("close"), instance(code, SEEN_CONNECTED + timedelta(minutes=1), SEEN_CONNECTED))

    assert seen.status == Status.BANNED
    assert f"({code})" in seen.reason


def test_a_ban_code_seen_before_the_last_connection_is_stale() -> None:
    stale = instance(403, SEEN_CONNECTED - timedelta(days=2), SEEN_CONNECTED)

    assert resolve_of(probe("close"), stale).status == Status.DISCONNECTED


def test_a_stale_ban_code_on_an_open_instance_is_ignored() -> None:
    banned_once = instance(403, SEEN_CONNECTED)

    assert resolve_of(probe("open"), banned_once) == resolve_of(probe("open"), instance())
    assert resolve_of(probe("open"), banned_once).status == Status.CONNECTED


def test_a_fresh_401_needs_a_new_qr_but_is_not_a_ban() -> None:
    seen = resolve_of(probe("close"), instance(401, SEEN_CONNECTED))

    assert seen.status == Status.DISCONNECTED
    assert "QR" in seen.reason


def test_a_v1_close_with_a_ban_status_reason_is_a_ban() -> None:
    assert resolve_of(probe("close", code=403), instance()).status == Status.BANNED


def test_the_gateway_is_down_only_when_every_probe_fails_for_a_gateway_reason() -> None:
    down = ProbeResult("a", False, failure=ProbeFailure.UNREACHABLE, error="gateway inacessível")
    hang = ProbeResult("b", False, failure=ProbeFailure.TIMEOUT)
    fine = ProbeResult("c", True, state="open")
    licence = ProbeResult("d", False, failure=ProbeFailure.LICENSE_REQUIRED, http_status=503)

    assert gateway_failure([down, down]).kind == GatewayErrorKind.UNREACHABLE
    assert gateway_failure([hang, down]).kind == GatewayErrorKind.UNREACHABLE
    assert gateway_failure([hang, hang]).kind == GatewayErrorKind.TIMEOUT
    assert gateway_failure([down, fine]) is None
    assert gateway_failure([hang, fine]) is None
    assert gateway_failure([]) is None
    assert gateway_failure([fine, licence]).kind == GatewayErrorKind.LICENSE_REQUIRED
