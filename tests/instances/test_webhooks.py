"""POST /webhooks/evolution: usage counts and status changes pushed by Evolution."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from instances.models import Instance, SentMessage, Status, StatusChange, UsageBucket

URL = "/webhooks/evolution"
SECRET = "segredo-do-webhook"
SP = ZoneInfo("America/Sao_Paulo")


@pytest.fixture(autouse=True)
def _webhook_secret(settings: Any) -> None:
    settings.EVOLUTION_WEBHOOK_SECRET = SECRET


def post(client: Client, payload: Any, *, secret: str | None = SECRET, query: str = "") -> Any:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    headers = {"X-Webhook-Secret": secret} if secret is not None else {}
    return client.post(URL + query, data=body, content_type="application/json", headers=headers)


def sent(message_id: str = "3EB0C5A2", at: datetime | None = None, instance: str = "zap-01", **extra: Any) -> dict:
    data: dict[str, Any] = {
        "key": {"remoteJid": "5511988887777@s.whatsapp.net", "fromMe": True, "id": message_id},
        "status": "PENDING",
        "message": {"conversation": "Olá"},
        "messageType": "conversation",
        "messageTimestamp": int((at or timezone.now()).timestamp()),
    }
    data.update(extra)
    return {"event": "send.message", "instance": instance, "data": data, "date_time": "2025-10-21T14:03:11.123Z"}


def upsert(message_id: str, from_me: bool) -> dict[str, Any]:
    key = {"remoteJid": "5511988887777@s.whatsapp.net", "fromMe": from_me, "id": message_id}
    return {"key": key, "messageTimestamp": int(timezone.now().timestamp())}


def usage(name: str = "zap-01") -> tuple[int, int]:
    instance = Instance.objects.with_usage().get(name=name)
    return instance.msgs_hour, instance.msgs_day


def recorded() -> tuple[int, int, int]:
    return UsageBucket.objects.count(), SentMessage.objects.count(), StatusChange.objects.count()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SP)


# --- counting -----------------------------------------------------------------------------


def test_it_counts_a_sent_message(client, make_instance):
    make_instance("zap-01")
    response = post(client, sent())
    assert response.status_code == 200
    assert response.json() == {"ok": True, "evento": "send.message", "contabilizadas": 1, "repetidas": 0}
    assert usage() == (1, 1)


def test_it_counts_a_retried_message_once(client, make_instance):
    make_instance("zap-01")
    answers = [post(client, sent("ABC")).json() for _ in range(3)]
    assert [a["contabilizadas"] for a in answers] == [1, 0, 0]
    assert usage() == (1, 1)


@pytest.mark.parametrize("event", ["SEND_MESSAGE", "send-message", "Send.Message"])
def test_it_accepts_the_other_spellings_of_an_event(client, make_instance, event):
    make_instance("zap-01")
    payload = sent()
    payload["event"] = event
    assert post(client, payload).status_code == 200
    assert usage() == (1, 1)


def test_it_counts_messages_typed_on_the_phone(client, make_instance):
    make_instance("zap-01")
    response = post(client, {"event": "messages.upsert", "instance": "zap-01", "data": upsert("P1", from_me=True)})
    assert response.json()["contabilizadas"] == 1
    assert usage() == (1, 1)


def test_it_ignores_incoming_messages(client, make_instance):
    make_instance("zap-01")
    response = post(client, {"event": "MESSAGES_UPSERT", "instance": "zap-01", "data": upsert("IN", from_me=False)})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "ignorado": True}
    assert recorded() == (0, 0, 0)


def test_it_counts_only_own_messages_of_an_upsert_list(client, make_instance):
    make_instance("zap-01")
    data = [upsert("A", from_me=True), upsert("B", from_me=False), upsert("C", from_me=True)]
    response = post(client, {"event": "messages.upsert", "instance": "zap-01", "data": data})
    assert response.json()["contabilizadas"] == 2
    assert usage() == (2, 2)


def test_it_counts_the_first_second_of_a_day_in_the_new_day(client, make_instance):
    make_instance("zap-01")
    with time_machine.travel(local(2025, 10, 21, 0, 0, 30), tick=False):
        post(client, sent("LATE", at=local(2025, 10, 20, 23, 59, 59)))
        post(client, sent("EARLY", at=local(2025, 10, 21, 0, 0, 0)))
        assert usage() == (1, 1)
    hours = sorted(UsageBucket.objects.values_list("hour", "count"))
    assert hours == [(local(2025, 10, 20, 23), 1), (local(2025, 10, 21, 0), 1)]


def test_it_counts_the_first_second_of_an_hour_in_the_new_hour(client, make_instance):
    make_instance("zap-01")
    with time_machine.travel(local(2025, 10, 21, 11, 0, 30), tick=False):
        post(client, sent("BEFORE", at=local(2025, 10, 21, 10, 59, 59)))
        post(client, sent("AT", at=local(2025, 10, 21, 11, 0, 0)))
        assert usage() == (1, 2)
    hours = sorted(UsageBucket.objects.values_list("hour", "count"))
    assert hours == [(local(2025, 10, 21, 10), 1), (local(2025, 10, 21, 11), 1)]


@pytest.mark.parametrize(
    "timestamp",
    [
        int(local(2025, 10, 21, 14, 0).timestamp()),  # an hour in the future
        "not-a-number",
        None,
    ],
)
def test_it_counts_at_the_receive_time_when_the_timestamp_is_not_plausible(client, make_instance, timestamp):
    make_instance("zap-01")
    with time_machine.travel(local(2025, 10, 21, 10, 59, 30), tick=False):
        # date_time is Evolution's local clock with a Z suffix: never used for buckets.
        post(client, sent(messageTimestamp=timestamp) | {"date_time": "2025-10-21T10:59:30.000Z"})
    assert list(UsageBucket.objects.values_list("hour", "count")) == [(local(2025, 10, 21, 10), 1)]


def test_a_message_older_than_the_de_duplication_window_is_not_counted(client, make_instance, settings):
    # A replay (or history sync) from weeks ago: it cannot be recognised as counted already,
    # and it was not sent this hour, so counting it now would inflate the hour.
    settings.MESSAGE_ID_RETENTION_DAYS = 3
    make_instance("zap-01")
    weeks_old = int(local(2025, 10, 1, 10, 0).timestamp())
    with time_machine.travel(local(2025, 10, 21, 10, 59, 30), tick=False):
        body = post(client, sent(messageTimestamp=weeks_old)).json()

    assert body["ignorado"] is True
    assert not UsageBucket.objects.exists()


@pytest.mark.parametrize(
    "timestamp",
    [
        str(int(local(2025, 10, 21, 9, 30).timestamp())),
        {"low": int(local(2025, 10, 21, 9, 30).timestamp()), "high": 0, "unsigned": False},  # protobuf Long
    ],
)
def test_it_reads_timestamps_sent_as_text_or_as_protobuf_longs(client, make_instance, timestamp):
    make_instance("zap-01")
    with time_machine.travel(local(2025, 10, 21, 10, 0, 30), tick=False):
        message = upsert("PHONE", from_me=True) | {"messageTimestamp": timestamp}
        post(client, {"event": "messages.upsert", "instance": "zap-01", "data": message})
    assert list(UsageBucket.objects.values_list("hour", "count")) == [(local(2025, 10, 21, 9), 1)]


# --- status -------------------------------------------------------------------------------


def connection_update(state: str, reason: int = 200, instance: str = "zap-01") -> dict[str, Any]:
    data = {"instance": instance, "state": state, "statusReason": reason}
    return {"event": "connection.update", "instance": instance, "data": data}


def test_it_marks_a_close_with_403_as_banned(client, make_instance):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    response = post(client, connection_update("close", 403))
    assert response.json() == {"ok": True, "evento": "connection.update", "status": "banned", "mudou": True}
    instance.refresh_from_db()
    assert (instance.status, instance.disconnection_code) == (Status.BANNED, 403)
    change = StatusChange.objects.get(instance=instance)
    assert (change.old_status, change.new_status) == (Status.CONNECTED, Status.BANNED)


def test_it_marks_a_close_with_401_as_disconnected_not_banned(client, make_instance):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    post(client, connection_update("close", 401))
    instance.refresh_from_db()
    assert (instance.status, instance.disconnection_code) == (Status.DISCONNECTED, 401)
    assert "401" in instance.status_changes.get().reason


def test_it_marks_an_open_instance_connected(client, make_instance):
    instance = make_instance("zap-01", status=Status.DISCONNECTED)
    post(client, connection_update("open"))
    instance.refresh_from_db()
    assert instance.status == Status.CONNECTED
    assert instance.last_seen_connected_at is not None
    assert instance.disconnection_code is None


def test_it_marks_a_connecting_instance_connecting(client, make_instance):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    post(client, connection_update("connecting"))
    instance.refresh_from_db()
    assert instance.status == Status.CONNECTING


def test_it_records_a_ban_reported_by_status_instance(client, make_instance):
    instance = make_instance("zap-01", status=Status.CONNECTED, status_since=timezone.now() - timedelta(hours=1))
    at = timezone.now() - timedelta(seconds=5)
    data = {
        "instance": "zap-01",
        "status": "closed",
        "disconnectionAt": at.isoformat(),
        "disconnectionReasonCode": 403,
        "disconnectionObject": "{}",
    }
    with time_machine.travel(timezone.now(), tick=False):
        post(client, {"event": "STATUS_INSTANCE", "instance": "zap-01", "data": data})
        received = timezone.now()
    instance.refresh_from_db()
    # Dated on arrival by the portal's clock; the gateway's date only identifies the close.
    assert (instance.status, instance.status_since) == (Status.BANNED, received)
    assert (instance.disconnection_code, instance.disconnection_at) == (403, at)


def test_it_marks_a_logged_out_instance_disconnected(client, make_instance):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    post(client, {"event": "logout.instance", "instance": "zap-01", "data": None})
    instance.refresh_from_db()
    assert instance.status == Status.DISCONNECTED
    assert instance.status_changes.get().reason == "logout"


def test_a_logout_after_a_ban_keeps_the_ban(client, make_instance):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    post(client, connection_update("close", 403))
    post(client, {"event": "logout.instance", "instance": "zap-01", "data": None})
    instance.refresh_from_db()
    assert instance.status == Status.BANNED


def test_an_older_observation_does_not_override_a_newer_status(client, make_instance):
    seen_connected = timezone.now() - timedelta(minutes=1)
    instance = make_instance(
        "zap-01", status=Status.CONNECTED, status_since=seen_connected, last_seen_connected_at=seen_connected
    )
    # A retried status.instance about a disconnection from before the instance reconnected.
    data = {
        "status": "closed",
        "disconnectionReasonCode": 401,
        "disconnectionAt": (seen_connected - timedelta(minutes=10)).isoformat(),
    }
    response = post(client, {"event": "status.instance", "instance": "zap-01", "data": data})
    assert response.json()["mudou"] is False
    instance.refresh_from_db()
    assert instance.status == Status.CONNECTED
    assert recorded() == (0, 0, 0)


def test_a_status_recorded_later_by_the_poller_wins_over_the_webhook(client, make_instance):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    instance.record_status(Status.CONNECTING, at=timezone.now() + timedelta(seconds=3))
    post(client, connection_update("close", 401))
    instance.refresh_from_db()
    assert instance.status == Status.CONNECTING


def test_it_ignores_a_state_it_does_not_know(client, make_instance):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    response = post(client, connection_update("sleeping"))
    assert response.json() == {"ok": True, "ignorado": True}
    instance.refresh_from_db()
    assert instance.status == Status.CONNECTED


def test_it_acknowledges_events_it_does_not_use(client, make_instance):
    make_instance("zap-01")
    response = post(client, {"event": "qrcode.updated", "instance": "zap-01", "data": {"qrcode": {}}})
    assert (response.status_code, response.json()) == (200, {"ok": True, "ignorado": True})
    assert recorded() == (0, 0, 0)


def test_it_acknowledges_an_unknown_instance_without_recording_it(client, make_instance, caplog):
    make_instance("zap-01")
    with caplog.at_level(logging.WARNING, logger="instances.webhooks"):
        response = post(client, sent(instance="zap-99"))
    assert response.status_code == 200
    assert response.json()["ignorado"] is True
    assert "zap-99" in caplog.text
    assert recorded() == (0, 0, 0)
    assert not Instance.objects.filter(name="zap-99").exists()


# --- authentication and bad input ---------------------------------------------------------


def test_it_accepts_the_secret_in_the_query_string(client, make_instance):
    make_instance("zap-01")
    response = post(client, sent(), secret=None, query=f"?token={SECRET}")
    assert response.status_code == 200
    assert usage() == (1, 1)


@pytest.mark.parametrize(("secret", "query"), [(None, ""), ("errado", ""), (None, "?token=errado"), ("", "")])
def test_it_refuses_a_wrong_or_missing_secret(client, make_instance, secret, query):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    for payload in (sent(), connection_update("close", 403)):
        response = post(client, payload, secret=secret, query=query)
        assert response.status_code == 401
        assert "segredo" in response.json()["detail"].lower()
    assert recorded() == (0, 0, 0)
    instance.refresh_from_db()
    assert instance.status == Status.CONNECTED


def test_it_refuses_everything_while_no_secret_is_configured(client, make_instance, settings):
    settings.EVOLUTION_WEBHOOK_SECRET = ""
    make_instance("zap-01")
    response = post(client, sent(), secret="")
    assert response.status_code == 403
    assert "não está configurado" in response.json()["detail"]
    assert recorded() == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("{not json", "JSON válido"),
        ("", "Corpo vazio"),
        ("[1, 2]", "objeto JSON"),
        ('"send.message"', "objeto JSON"),
        ('{"instance": "zap-01", "data": {}}', "event"),
        ('{"event": 7, "instance": "zap-01"}', "event"),
        ('{"event": "send.message", "data": {}}', "instance"),
        ('{"event": "send.message", "instance": ""}', "instance"),
        ('{"event": "send.message", "instance": "zap-01", "data": "x"}', "data"),
        ('{"event": "send.message", "instance": "zap-01", "data": [{"key": {"id": "A"}}, 3]}', "data"),
        ('{"event": "connection.update", "instance": "zap-01", "data": null}', "data"),
        ('{"event": "connection.update", "instance": "zap-01", "data": {"statusReason": 403}}', "state"),
        ("[" * 100_000, "JSON válido"),
    ],
)
def test_it_rejects_bad_input_and_records_nothing(client, make_instance, body, detail):
    instance = make_instance("zap-01", status=Status.CONNECTED)
    response = post(client, body)
    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert recorded() == (0, 0, 0)
    instance.refresh_from_db()
    assert instance.status == Status.CONNECTED


def test_it_answers_get_with_method_not_allowed(client):
    response = client.get(URL, headers={"X-Webhook-Secret": SECRET})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
