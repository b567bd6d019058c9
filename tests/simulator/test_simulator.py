"""The gateway simulator speaks Evolution's shapes, faults and webhooks (the contract).

Its command, ``simulate_gateway``, is in ``test_simulate_gateway_command.py``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from instances.simulator import GatewaySimulator

KEY = "simulator-key"


@pytest.fixture
def sim() -> Iterator[GatewaySimulator]:
    with GatewaySimulator(api_key=KEY, seed=1) as sim:
        sim.add_instance("zap-01", phone_number="5511999990001")
        sim.add_instances(3)
        yield sim


def get(sim: GatewaySimulator, path: str, key: str | None = KEY, timeout: float = 5.0) -> httpx.Response:
    headers = {"apikey": key} if key else {}
    return httpx.get(f"{sim.url}{path}", headers=headers, timeout=timeout)


def row(sim: GatewaySimulator, name: str) -> dict[str, Any]:
    return next(r for r in get(sim, "/instance/fetchInstances").json() if r["name"] == name)


def test_it_lists_instances_as_v2_database_rows(sim):
    rows = get(sim, "/instance/fetchInstances").json()

    assert [r["name"] for r in rows] == ["zap-01", "sim-001", "sim-002", "sim-003"]
    first = rows[0]
    assert first["connectionStatus"] == "open"
    assert first["ownerJid"] == "5511999990001@s.whatsapp.net"
    assert first["number"] == "5511999990001"
    assert first["disconnectionReasonCode"] is None and first["disconnectionObject"] is None
    assert {"id", "token", "integration", "createdAt", "updatedAt", "disconnectionAt", "_count"} <= set(first)
    assert "instanceName" not in first


def test_it_filters_fetch_instances_by_name_and_says_404_for_an_unknown_one(sim):
    assert [r["name"] for r in get(sim, "/instance/fetchInstances?instanceName=sim-002").json()] == ["sim-002"]
    assert get(sim, "/instance/fetchInstances?instanceName=nope").status_code == 404


def test_it_speaks_the_v1_shapes_when_asked():
    with GatewaySimulator(api_key=KEY, shape="v1") as sim:
        sim.add_instance("zap-01", phone_number="5511999990001")
        sim.add_instance("zap-02", state="close")

        items = get(sim, "/instance/fetchInstances").json()
        state = get(sim, "/instance/connectionState/zap-02").json()

    assert items[0]["instance"]["instanceName"] == "zap-01"
    assert items[0]["instance"]["status"] == "open"
    assert items[0]["instance"]["owner"] == "5511999990001@s.whatsapp.net"
    assert items[1]["instance"]["status"] == "close"
    assert "owner" not in items[1]["instance"]  # v1 gave profile fields only when open
    assert state == {"instance": {"instanceName": "zap-02", "state": "close"}}


def test_it_answers_the_live_connection_state(sim):
    sim.set_state("sim-002", "connecting")

    assert get(sim, "/instance/connectionState/zap-01").json() == {
        "instance": {"instanceName": "zap-01", "state": "open"}
    }
    assert get(sim, "/instance/connectionState/sim-002").json()["instance"]["state"] == "connecting"


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_it_refuses_requests_without_the_right_api_key(sim, key):
    for path in ("/instance/fetchInstances", "/instance/connectionState/zap-01"):
        response = get(sim, path, key=key)
        assert response.status_code == 401
        assert response.json() == {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}
    assert get(sim, "/", key=None).status_code == 200  # liveness needs no key


def test_an_instance_token_opens_only_its_own_routes(sim):
    token = sim.instances["zap-01"].token

    assert get(sim, "/instance/connectionState/zap-01", key=token).status_code == 200
    assert get(sim, "/instance/connectionState/sim-001", key=token).status_code == 401


def test_it_says_404_with_evolutions_body_for_an_unknown_instance(sim):
    response = get(sim, "/instance/connectionState/x")

    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "error": "Not Found",
        "response": {"message": ['The "x" instance does not exist']},
    }


def test_a_ban_writes_fresh_disconnection_fields_and_closes_the_row(sim):
    before = datetime.now(UTC) - timedelta(seconds=1)
    sim.set_state("zap-01", "close", code=403)

    banned = row(sim, "zap-01")
    assert get(sim, "/instance/connectionState/zap-01").json()["instance"]["state"] == "close"
    assert banned["connectionStatus"] == "close"
    assert banned["disconnectionReasonCode"] == 403
    assert datetime.fromisoformat(banned["disconnectionAt"]) >= before
    assert isinstance(banned["disconnectionObject"], str)  # a JSON string, parsed twice by clients
    assert json.loads(banned["disconnectionObject"])["error"]["output"]["statusCode"] == 403


def test_a_transient_close_changes_the_live_state_but_the_row_lags(sim):
    sim.set_state("zap-01", "close", code=428)

    assert get(sim, "/instance/connectionState/zap-01").json()["instance"]["state"] == "close"
    lagging = row(sim, "zap-01")
    assert lagging["connectionStatus"] == "open"
    assert lagging["disconnectionReasonCode"] is None


def test_an_open_instance_keeps_a_stale_disconnection_code(sim):
    sim.add_instance("zap-02", state="open", disconnection_code=401)
    sim.set_state("zap-01", "close", code=401)
    sim.set_state("zap-01", "open")

    for name in ("zap-01", "zap-02"):
        stale = row(sim, name)
        assert stale["connectionStatus"] == "open"
        assert stale["disconnectionReasonCode"] == 401  # Evolution never clears it on reconnect
    assert row(sim, "zap-02")["disconnectionAt"] < row(sim, "zap-02")["updatedAt"]


def test_connect_gives_a_qr_code_when_not_open_and_the_state_when_open(sim):
    sim.set_state("sim-001", "close", code=401)

    qr = get(sim, "/instance/connect/sim-001?number=5511999990002").json()
    assert set(qr) == {"pairingCode", "code", "base64", "count"}
    assert qr["pairingCode"] and qr["base64"].startswith("data:image/png;base64,") and qr["count"] == 1
    assert get(sim, "/instance/connect/zap-01").json() == {"instance": {"instanceName": "zap-01", "state": "open"}}


def test_the_license_fault_answers_503_except_on_the_root(sim):
    sim.set_gateway_fault("license_required")

    response = get(sim, "/instance/connectionState/zap-01")
    assert response.status_code == 503
    assert response.json()["code"] == "LICENSE_REQUIRED"
    assert get(sim, "/").status_code == 200

    sim.set_gateway_fault(None)
    assert get(sim, "/instance/connectionState/zap-01").status_code == 200


def test_the_gateway_500_fault_fails_everything(sim):
    sim.set_gateway_fault("http500")

    assert get(sim, "/").status_code == 500
    assert get(sim, "/instance/fetchInstances").status_code == 500


def test_a_down_gateway_closes_connections_without_an_answer(sim):
    sim.set_gateway_fault("down")

    with pytest.raises(httpx.RemoteProtocolError):
        get(sim, "/instance/connectionState/zap-01")


def test_instance_faults_fail_only_that_instance(sim):
    sim.set_fault("sim-001", "error_body")
    sim.set_fault("sim-002", "http500")
    sim.set_fault("sim-003", "not_found")

    error_body = get(sim, "/instance/connectionState/sim-001")
    assert error_body.status_code == 200 and error_body.json()["error"] is True
    assert get(sim, "/instance/connect/sim-001").json()["error"] is True
    assert get(sim, "/instance/connectionState/sim-002").status_code == 500
    assert get(sim, "/instance/connectionState/sim-003").status_code == 404
    assert get(sim, "/instance/connectionState/zap-01").status_code == 200


def test_a_hanging_instance_answers_late_while_the_others_answer_at_once():
    with GatewaySimulator(api_key=KEY, hang_seconds=1.0) as sim:
        sim.add_instances(20)
        sim.set_fault("sim-001", "hang")

        async def probe() -> tuple[Any, float, list[int]]:
            async with httpx.AsyncClient(base_url=sim.url, headers={"apikey": KEY}) as client:
                hung = asyncio.create_task(client.get("/instance/connectionState/sim-001", timeout=0.3))
                started = time.monotonic()
                others = await asyncio.gather(
                    *(client.get(f"/instance/connectionState/sim-{i:03d}") for i in range(2, 21))
                )
                took = time.monotonic() - started
                hung_result = await asyncio.gather(hung, return_exceptions=True)
                return hung_result[0], took, [r.status_code for r in others]

        hung, took, statuses = asyncio.run(probe())
        assert isinstance(hung, httpx.TimeoutException)
        assert statuses == [200] * 19 and took < 0.9

        started = time.monotonic()
        late = get(sim, "/instance/connectionState/sim-001", timeout=5)
        assert late.status_code == 200 and time.monotonic() - started >= 0.9


def test_hang_share_picks_an_exact_share_the_same_way_for_a_seed():
    def hanging(seed: int) -> list[str]:
        sim = GatewaySimulator(hang_share=0.05, seed=seed)
        sim.add_instances(1000)
        return sim.hanging()

    assert len(hanging(1)) == 50
    assert hanging(1) == hanging(1)
    assert hanging(1) != hanging(2)


def test_stop_does_not_wait_for_hanging_requests():
    sim = GatewaySimulator(api_key=KEY, hang_share=1.0, hang_seconds=30)
    sim.add_instances(1)
    sim.start()
    errors: list[Exception] = []

    def call() -> None:
        try:
            get(sim, "/instance/connectionState/sim-001", timeout=10)
        except httpx.HTTPError as error:
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 2
    while not sim.in_flight():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    caller.join(5)

    assert time.monotonic() - started < 1.0
    assert len(errors) == 1  # the client saw the connection cut, not a 30 s wait


def test_it_counts_the_requests_it_answered(sim):
    for _ in range(3):
        get(sim, "/instance/connectionState/zap-01")
    get(sim, "/instance/fetchInstances")

    assert sim.request_count("/instance/connectionState") == 3
    assert sim.request_count() == 4


def test_it_posts_send_message_webhooks_with_the_secret(receiver):
    with GatewaySimulator(webhook_url=receiver.url, webhook_secret="s3cret", seed=1) as sim:
        sim.add_instance("zap-01", phone_number="5511999990001")
        message_id = sim.send_message("zap-01")
        sim.send_message("zap-01", message_id=message_id)  # a gateway retry: same id again
        payloads = receiver.wait_for(2)

    assert [headers["X-Webhook-Secret"] for headers, _ in receiver.received] == ["s3cret", "s3cret"]
    first = payloads[0]
    assert first["event"] == "send.message" and first["instance"] == "zap-01"
    assert {"destination", "date_time", "sender", "server_url", "apikey"} <= set(first)
    assert first["data"]["key"]["fromMe"] is True
    assert first["data"]["key"]["id"] == message_id == payloads[1]["data"]["key"]["id"]
    assert abs(first["data"]["messageTimestamp"] - time.time()) < 60


def test_it_posts_status_and_connection_webhooks_on_a_ban_in_order(receiver):
    with GatewaySimulator(webhook_url=receiver.url, webhook_secret="s3cret") as sim:
        sim.add_instance("zap-01")
        sim.set_state("zap-01", "close", code=428)  # transient: Evolution posts nothing
        sim.set_state("zap-01", "connecting")
        sim.set_state("zap-01", "open")
        sim.set_state("zap-01", "close", code=403)
        payloads = receiver.wait_for(4)

    assert [(p["event"], p["data"].get("state")) for p in payloads] == [
        ("connection.update", "connecting"),
        ("connection.update", "open"),
        ("status.instance", None),
        ("connection.update", "close"),
    ]
    status, close = payloads[2]["data"], payloads[3]["data"]
    assert status["status"] == "closed" and status["disconnectionReasonCode"] == 403
    assert isinstance(status["disconnectionObject"], str) and status["disconnectionAt"]
    assert close == {"instance": "zap-01", "state": "close", "statusReason": 403}


def test_a_failed_webhook_is_retried_and_a_rejected_one_is_dropped(receiver):
    receiver.statuses = [503, 401]
    with GatewaySimulator(webhook_url=receiver.url, webhook_retry_delays=(0.05, 0.05)) as sim:
        sim.add_instance("zap-01")
        sim.send_message("zap-01", message_id="retried")  # 503, then delivered on the retry
        sim.send_message("zap-01", message_id="rejected")  # 401: never retried
        sim.send_message("zap-01", message_id="fine")
        assert sim.flush_webhooks(timeout=5)

    ids = [p["data"]["key"]["id"] for p in receiver.wait_for(4)]
    assert ids == ["retried", "retried", "rejected", "fine"]
    assert (sim.webhooks_delivered, sim.webhooks_dropped) == (2, 1)
