"""POST /webhooks/evolution authenticated by Evolution's signed token (``jwt_key``).

Tokens are minted as Evolution mints them: HS256 over ``{"app": "evolution", "action":
"webhook"}`` with ``iat`` and a 10-minute ``exp``, signed with the shared secret.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from instances.models import Instance, SentMessage

URL = "/webhooks/evolution"
SECRET = "s3gredo-do-webhook-com-mais-de-64-caracteres-para-valer-tambem-no-hs512"
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _webhook_secret(settings: Any) -> None:
    settings.EVOLUTION_WEBHOOK_SECRET = SECRET


def evolution_token(*, key: str = SECRET, algorithm: str = "HS256", at: datetime | None = None, **claims: Any) -> str:
    issued = at or timezone.now()
    payload = {
        "app": "evolution",
        "action": "webhook",
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=10)).timestamp()),
        **claims,
    }
    return jwt.encode(payload, key, algorithm=algorithm)


def sent(message_id: str = "3EB0C5A2") -> dict[str, Any]:
    key = {"remoteJid": "5511988887777@s.whatsapp.net", "fromMe": True, "id": message_id}
    return {"event": "send.message", "instance": "zap-01", "data": {"key": key}}


def post(client: Client, headers: dict[str, str], query: str = "", message_id: str = "3EB0C5A2") -> Any:
    return client.post(URL + query, data=json.dumps(sent(message_id)), content_type="application/json", headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def counted() -> int:
    return SentMessage.objects.count()


def test_a_token_signed_by_evolution_with_the_secret_is_accepted(client, make_instance):
    make_instance("zap-01")

    response = post(client, bearer(evolution_token()))

    assert response.status_code == 200, response.json()
    assert response.json()["contabilizadas"] == 1
    assert Instance.objects.with_usage().get(name="zap-01").msgs_hour == 1


def test_a_token_is_good_for_its_ten_minutes_plus_the_leeway_and_not_after(client, make_instance):
    make_instance("zap-01")
    token = evolution_token(at=START)

    with time_machine.travel(START + timedelta(minutes=10, seconds=45), tick=False):
        late_but_within_leeway = post(client, bearer(token), message_id="A")
    with time_machine.travel(START + timedelta(minutes=11, seconds=1), tick=False):
        expired = post(client, bearer(token), message_id="B")

    assert late_but_within_leeway.status_code == 200
    assert expired.status_code == 401
    assert expired.json() == {"detail": "Token do webhook expirado (Authorization: Bearer)."}
    assert counted() == 1


def test_a_token_from_a_clock_slightly_ahead_is_accepted(client, make_instance):
    make_instance("zap-01")

    response = post(client, bearer(evolution_token(at=timezone.now() + timedelta(seconds=40))))

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("token", "case"),
    [
        (lambda: evolution_token(key="outro-segredo-qualquer-com-32-caracteres!"), "signed with another secret"),
        (lambda: evolution_token(algorithm="HS512"), "another algorithm, right secret"),
        (lambda: jwt.encode({"app": "evolution", "action": "webhook", "exp": 4102444800}, None, "none"), "alg none"),
        (lambda: evolution_token(app="outro-sistema"), "minted for another app"),
        (lambda: evolution_token(action="login"), "minted for another action"),
        (lambda: jwt.encode({"app": "evolution", "action": "webhook"}, SECRET, "HS256"), "no expiry"),
        (lambda: evolution_token()[:-4] + "AAAA", "tampered signature"),
        (lambda: "isto-não-é-um-jwt", "not a token"),
        (lambda: "", "empty"),
    ],
)
def test_a_forged_or_foreign_token_is_refused_and_nothing_is_counted(client, make_instance, token, case):
    make_instance("zap-01")

    response = post(client, bearer(token()))

    assert response.status_code == 401, case
    assert response.json()["detail"].startswith("Token do webhook inválido"), case
    assert counted() == 0


def test_a_bad_token_is_not_rescued_by_a_good_secret_beside_it(client, make_instance):
    make_instance("zap-01")
    forged = evolution_token(key="outro-segredo-qualquer-com-32-caracteres!")

    response = post(client, {**bearer(forged), "X-Webhook-Secret": SECRET}, query=f"?token={SECRET}")

    assert response.status_code == 401
    assert counted() == 0


def test_the_shared_secret_still_works_for_the_global_webhook_and_old_setups(client, make_instance):
    make_instance("zap-01")

    by_query = post(client, {}, query=f"?token={SECRET}", message_id="A")
    by_header = post(client, {"X-Webhook-Secret": SECRET}, message_id="B")

    assert (by_query.status_code, by_header.status_code) == (200, 200)
    assert counted() == 2


# --- through the gateway simulator, as Evolution sends them --------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("auth", ["jwt", "query", "header"])
def test_the_simulated_gateway_gets_its_webhooks_counted_each_way_it_can_authenticate(live_server, make_instance, auth):
    from instances.simulator import GatewaySimulator

    make_instance("zap-01")
    url = f"{live_server.url}{URL}"
    with GatewaySimulator(webhook_url=url, webhook_secret=SECRET, webhook_auth=auth, seed=1) as sim:
        sim.add_instance("zap-01", phone_number="5511999990001")
        sim.send_message("zap-01")
        assert sim.flush_webhooks(timeout=10)
        delivered, dropped = sim.webhooks_delivered, sim.webhooks_dropped

    assert (delivered, dropped) == (1, 0)
    assert counted() == 1


@pytest.mark.django_db(transaction=True)
def test_a_gateway_signing_with_another_secret_is_refused_once_and_not_retried(live_server, make_instance):
    from instances.simulator import GatewaySimulator

    make_instance("zap-01")
    url = f"{live_server.url}{URL}"
    other = "outro-segredo-qualquer-com-mais-de-32-caracteres"
    with GatewaySimulator(webhook_url=url, webhook_secret=other, webhook_auth="jwt", seed=1) as sim:
        sim.add_instance("zap-01", phone_number="5511999990001")
        sim.send_message("zap-01")
        assert sim.flush_webhooks(timeout=10)
        delivered, dropped = sim.webhooks_delivered, sim.webhooks_dropped

    # Like Evolution, the gateway drops a webhook answered 401: a wrong secret loses events.
    assert (delivered, dropped) == (0, 1)
    assert counted() == 0
