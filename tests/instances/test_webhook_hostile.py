"""POST /webhooks/evolution under hostile input: never a 5xx, which Evolution would retry forever.

Names and message ids with NUL or control characters are dropped with a 200 and a log line
(the rest of a batch counted); junk of every type gets a 4xx or a 200, whatever the database.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from instances.models import Instance, Status
from tests.instances.test_webhooks import SECRET, post, recorded, sent, usage


@pytest.fixture(autouse=True)
def _webhook_secret(settings: Any) -> None:
    settings.EVOLUTION_WEBHOOK_SECRET = SECRET


HOSTILE_NAMES = [
    "zap\x00-01",
    "zap-01\n[ALERTA] Instância zap-99 BANIDA: forjado",
    "zap-01\r",
    "zap\x1b[31m-01",
    "zap\u2028-01",
    "zap\x85-01",
    "zap-\ud800",
    "z" * 101,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize(
    "payload",
    [
        lambda name: sent("A1", instance=name),
        lambda name: {"event": "connection.update", "instance": name, "data": {"state": "close", "statusReason": 403}},
    ],
    ids=["send.message", "connection.update"],
)
def test_an_event_for_an_impossible_instance_name_is_ignored_with_a_200_and_one_log_line(
    client, make_instance, caplog, name, payload
):
    make_instance("zap-01")
    with caplog.at_level(logging.WARNING, logger="instances.webhooks"):
        response = post(client, payload(name))
    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["ignorado"]) == (True, True)
    assert body["detail"].startswith("Nome de instância inválido (nome com ")
    assert body["detail"].endswith("): evento ignorado.")
    assert recorded() == (0, 0, 0)
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("Webhook ignorado: Nome de instância inválido")
    assert "\n" not in line and "\r" not in line and "\x00" not in line and "\x1b" not in line


def test_a_message_with_a_bad_id_is_skipped_and_the_rest_of_the_batch_is_counted(client, make_instance, caplog):
    make_instance("zap-01")
    now = int(timezone.now().timestamp())
    items = [
        {"key": {"fromMe": True, "id": message_id}, "messageTimestamp": now}
        for message_id in ("BOM-1", "RUIM\x00", "RUIM\n2", "BOM-2", "\ud83d")
    ]
    with caplog.at_level(logging.WARNING, logger="instances.webhooks"):
        response = post(client, {"event": "send.message", "instance": "zap-01", "data": items})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "evento": "send.message", "contabilizadas": 2, "repetidas": 0}
    assert usage() == (2, 2)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert all(line.startswith("Mensagem com key.id inválido") and "\n" not in line for line in lines)


@pytest.mark.parametrize(
    "data",
    [
        {"key": {"fromMe": True, "id": "A"}, "messageTimestamp": 10**400},
        {"key": {"fromMe": True, "id": "A"}, "messageTimestamp": -(10**400)},
        {"key": {"fromMe": True, "id": "A"}, "messageTimestamp": {"low": 1, "high": 10**30}},
        {"key": {"fromMe": True, "id": "A"}, "messageTimestamp": "1e999"},
        {"key": {"fromMe": True, "id": 10**40}},
    ],
)
def test_absurd_timestamps_and_ids_never_crash_the_count(client, make_instance, data):
    make_instance("zap-01")
    response = post(client, {"event": "send.message", "instance": "zap-01", "data": data})
    assert response.status_code == 200
    assert response.json()["contabilizadas"] == 1


@pytest.mark.parametrize(
    "data",
    [
        {"status": "close", "disconnectionReasonCode": "²"},
        {"status": "close", "disconnectionReasonCode": 403, "disconnectionAt": "0001-01-01T00:00:00+01:00"},
        {"status": "close", "disconnectionReasonCode": 403, "disconnectionAt": "9999-12-31T23:59:59-01:00"},
        {"status": "close", "disconnectionReasonCode": "40\x003"},
    ],
)
def test_absurd_status_fields_never_crash_the_status(client, make_instance, data):
    make_instance("zap-01")
    response = post(client, {"event": "status.instance", "instance": "zap-01", "data": data})
    assert response.status_code == 200
    assert Instance.objects.get(name="zap-01").status in (Status.DISCONNECTED, Status.BANNED)


# --- Any JSON at all ---------------------------------------------------------------------------

# Text with everything JSON can carry: NUL, controls, line separators, lone surrogates (and the
# classics often, so that a few dozen examples meet them).
any_text = st.sampled_from(["", " ", "zap\x00", "A\x00B", "\ud800", "\n", "²", "1e999", "-1"]) | st.text(
    st.characters(exclude_categories=()), max_size=40
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)
EVENTS = ["send.message", "messages.upsert", "connection.update", "status.instance", "logout.instance"]
NAMES = ["zap-01", "zap-02", "zap\x00", "zap-01\n", "\ud800", "z" * 101]
messages = st.fixed_dictionaries(
    {"key": st.fixed_dictionaries({"id": any_text | json_values, "fromMe": st.just(True) | json_values})},
    optional={"messageTimestamp": st.integers() | json_values},
)
statuses = st.fixed_dictionaries(
    {"state": st.sampled_from(["open", "close"]) | json_values, "status": st.sampled_from(["close"]) | json_values},
    optional={
        "statusReason": st.sampled_from([403, "403", "²"]) | json_values,
        "disconnectionReasonCode": st.sampled_from([403, "406"]) | json_values,
        "disconnectionAt": st.sampled_from(["0001-01-01T00:00:00+01:00", "2026-11-30T10:00:00Z"]) | any_text,
    },
)
envelopes = st.fixed_dictionaries(
    {
        "event": st.sampled_from(EVENTS) | json_values,
        "instance": st.sampled_from(NAMES) | any_text | json_values,
        "data": messages | st.lists(messages, max_size=3) | statuses | json_values,
    }
)


def _never_5xx(client: Client, payload: Any) -> None:
    response = post(client, json.dumps(payload))
    assert response.status_code < 500, response.content
    assert response.status_code in (200, 400), response.content


@hypothesis_settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=envelopes)
def test_no_envelope_ever_gets_a_5xx(client, make_instance, payload):
    if not Instance.objects.filter(name="zap-01").exists():
        make_instance("zap-01")
    _never_5xx(client, payload)


@hypothesis_settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=json_values)
def test_no_json_value_ever_gets_a_5xx(client, db, payload):
    _never_5xx(client, payload)
