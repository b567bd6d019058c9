"""Acknowledging and resolving from Slack: real signed requests, the real slack-sdk, the local fake Slack.

An alert is delivered to the fake Slack by the real delivery pass (a bot token, so the post
has buttons and its ``ts`` is kept); a press is what Slack would send: a form with ``payload``,
signed ``v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from alerts.choices import AlertState, Channel, EventKind, NotificationKind
from alerts.delivery import deliver_due
from alerts.models import Alert, AlertEvent, Notification, SlackIdentity, new_batch
from alerts.slack_actions import NOT_ALLOWED, UNKNOWN_PERSON
from julia_monitor.roles import assign_role
from tests.fakes.slack import FakeSlack, SlackPost

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the shape of Slack's signing secrets: 32 characters
URL = "/slack/interactions"
ANA = "U0ANA"


@pytest.fixture
def operator_name() -> str:
    return "ana"


@pytest.fixture
def slack_app(fake_slack_bot: FakeSlack, settings: Any) -> FakeSlack:
    """Slack as an app: a bot token and a signing secret; Ana is a member with her portal e-mail."""
    settings.SLACK_SIGNING_SECRET = SECRET
    fake_slack_bot.people[ANA] = "Ana@Example.com"
    return fake_slack_bot


@pytest.fixture
def ana(operator: Any) -> Any:
    operator.email = "ana@example.com"
    operator.save()
    return operator


def delivered(*alerts: Alert) -> Notification:
    """Queue the alerts in one batch, run a delivery pass, and return the Slack row of the first."""
    batch, now = new_batch(), timezone.now()
    for alert in alerts:
        alert.queue_notifications(NotificationKind.FIRING, batch, now)
    deliver_due(now, sleep=lambda seconds: None)
    return Notification.objects.get(alert=alerts[0], channel=Channel.SLACK)


def sign(body: str, timestamp: int, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def press(
    row: Notification,
    action: str = "reconhecer",
    user: str = ANA,
    *,
    alert: Alert | None = None,
    age: int = 0,
    secret: str = SECRET,
    payload: Any = None,
) -> Any:
    """POST what Slack sends when ``user`` presses a button of the post ``row`` went out in."""
    if payload is None:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "ana.slack"},
            "container": {"type": "message", "channel_id": row.posted_channel, "message_ts": row.posted_ts},
            "channel": {"id": row.posted_channel},
            "actions": [{"action_id": action, "value": str((alert or row.alert).pk), "type": "button"}],
        }
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = int(time.time()) - age
    return Client().post(
        URL,
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(timestamp),
        HTTP_X_SLACK_SIGNATURE=sign(body, timestamp, secret),
    )


def buttons(post: SlackPost) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in post.blocks if b["type"] == "actions" for e in b["elements"]]


def unchanged(alert: Alert) -> bool:
    alert.refresh_from_db()
    return (
        alert.state == AlertState.FIRING
        and alert.acknowledged_by is None
        and not alert.events.filter(kind__in=[EventKind.ACKNOWLEDGED, EventKind.RESOLVED]).exists()
    )


def test_a_bot_post_carries_reconhecer_and_resolver_for_the_alert(slack_app, make_alert):
    alert = make_alert("zap-01")

    row = delivered(alert)

    [post] = slack_app.wait_for(1)
    assert buttons(post) == [("reconhecer", str(alert.pk)), ("resolver", str(alert.pk))]
    assert (row.posted_channel, row.posted_ts) == ("#julia-alertas", post.body and f"{post.received_at:.6f}")


def test_a_grouped_post_has_one_pair_of_buttons_under_each_alert(slack_app, make_alert):
    first, second = make_alert("zap-01"), make_alert("zap-02")

    delivered(first, second)

    [post] = slack_app.wait_for(1)
    kinds = [b["type"] for b in post.blocks]
    assert kinds == ["header", "section", "actions", "section", "actions", "context"]
    assert sorted(buttons(post)) == sorted(
        [
            ("reconhecer", str(first.pk)),
            ("resolver", str(first.pk)),
            ("reconhecer", str(second.pk)),
            ("resolver", str(second.pk)),
        ]
    )


def test_an_operator_acknowledges_from_slack_and_the_post_says_so(slack_app, make_alert, ana, client):
    alert = make_alert("zap-01")
    row = delivered(alert)

    response = press(row, "reconhecer")

    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by == ana
    event = alert.events.get(kind=EventKind.ACKNOWLEDGED)
    assert (event.actor, event.detail) == (ana, "pelo Slack")
    client.force_login(ana)
    page = client.get(f"/alertas/{alert.pk}/").content.decode()
    assert "por ana" in page and "pelo Slack" in page
    # The same post, rewritten: who and when, and only Resolver is left.
    [update] = slack_app.updates
    assert (update.body["channel"], update.body["ts"]) == (row.posted_channel, row.posted_ts)
    at = f"{timezone.localtime(alert.acknowledged_at):%H:%M}"
    assert f"✅ Reconhecido por ana às {at}" in update.blocks_text()
    assert buttons(update) == [("resolver", str(alert.pk))]
    # Found by her e-mail once; kept, so Slack is not asked again.
    assert SlackIdentity.objects.get(user=ana).slack_user_id == ANA


def test_an_operator_resolves_from_slack_as_set_in_the_admin(slack_app, make_alert, operator):
    SlackIdentity.objects.create(user=operator, slack_user_id="U0OUTRO")  # no e-mail needed
    alert = make_alert("zap-01")
    row = delivered(alert)

    response = press(row, "resolver", user="U0OUTRO")

    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.resolved_by == operator
    assert alert.events.get(kind=EventKind.RESOLVED).detail == "resolvido manualmente pelo Slack"
    [update] = slack_app.updates
    assert "✅ Resolvido por ana às" in update.blocks_text()
    assert buttons(update) == []


def test_in_a_grouped_post_only_the_pressed_alert_changes(slack_app, make_alert, ana):
    first, second = make_alert("zap-01"), make_alert("zap-02")
    row = delivered(first, second)

    press(row, "reconhecer", alert=second)

    assert unchanged(first)
    [update] = slack_app.updates
    assert ("reconhecer", str(first.pk)) in buttons(update)
    assert ("reconhecer", str(second.pk)) not in buttons(update)
    assert "Reconhecido por ana" in update.blocks_text()


def test_a_viewer_is_told_no_and_nothing_changes(slack_app, make_alert, viewer):
    SlackIdentity.objects.create(user=viewer, slack_user_id="U0LEITOR")
    alert = make_alert("zap-01")
    row = delivered(alert)

    response = press(row, "resolver", user="U0LEITOR")

    assert response.status_code == 200
    assert response.json() == {"response_type": "ephemeral", "replace_original": False, "text": NOT_ALLOWED}
    assert unchanged(alert) and slack_app.updates == []


@pytest.mark.parametrize("member", ["U0ESTRANHO", "U0GEMEOS"])
def test_an_unknown_slack_member_is_told_no_and_nothing_changes(slack_app, make_alert, ana, django_user_model, member):
    # U0ESTRANHO: Slack knows no such member; U0GEMEOS: two portal logins share the e-mail.
    slack_app.people["U0GEMEOS"] = "gemeos@example.com"
    for name in ("gemeo1", "gemeo2"):
        assign_role(django_user_model.objects.create_user(name, email="gemeos@example.com"), "operador")
    alert = make_alert("zap-01")
    row = delivered(alert)

    response = press(row, user=member)

    assert response.status_code == 200 and response.json()["text"] == UNKNOWN_PERSON
    assert unchanged(alert) and slack_app.updates == []
    assert not SlackIdentity.objects.exists()


@pytest.mark.parametrize(
    ("age", "secret"),
    [(0, "outro-segredo-outro-segredo-0000"), (301, SECRET), (-301, SECRET)],
    ids=["assinatura-errada", "replay-de-6-min", "do-futuro"],
)
def test_a_badly_signed_or_stale_press_is_401_and_nothing_changes(slack_app, make_alert, ana, age, secret):
    alert = make_alert("zap-01")
    row = delivered(alert)

    response = press(row, age=age, secret=secret)

    assert response.status_code == 401
    assert "assinatura" in response.json()["detail"]
    assert unchanged(alert) and slack_app.updates == []


def test_an_unsigned_press_is_401(slack_app, make_alert, ana):
    alert = make_alert("zap-01")
    body = urlencode({"payload": json.dumps({"type": "block_actions"})})

    response = Client().post(URL, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 401
    assert unchanged(alert)


def test_without_a_signing_secret_no_press_is_trusted(slack_app, make_alert, ana, settings):
    alert = make_alert("zap-01")
    row = delivered(alert)
    settings.SLACK_SIGNING_SECRET = ""

    assert press(row).status_code == 401
    assert unchanged(alert)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "view_submission"},
        {"type": "block_actions", "user": {"id": ANA}, "actions": []},
        {"type": "block_actions", "user": {"id": ANA}, "actions": [{"action_id": "apagar", "value": "1"}]},
        {"type": "block_actions", "user": {"id": ANA}, "actions": [{"action_id": "resolver", "value": "x"}]},
        [1, 2],
    ],
)
def test_a_signed_but_malformed_payload_is_a_400_in_portuguese(slack_app, make_alert, ana, payload):
    alert = make_alert("zap-01")
    row = delivered(alert)

    response = press(row, payload=payload)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Interação do Slack malformada")
    assert unchanged(alert)


def test_pressing_an_alert_someone_already_acknowledged_changes_nothing(slack_app, make_alert, ana, administrator):
    alert = make_alert("zap-01")
    row = delivered(alert)
    alert.acknowledge(administrator)

    response = press(row, "reconhecer")

    assert (
        response.json()["text"]
        == "Nada mudou: o alerta “Instância zap-01 BANIDA” já estava reconhecido por administradora."
    )
    alert.refresh_from_db()
    assert alert.acknowledged_by == administrator
    assert AlertEvent.objects.filter(alert=alert, kind=EventKind.ACKNOWLEDGED).count() == 1


def test_an_incoming_webhook_posts_no_buttons(fake_slack, make_alert, settings):
    settings.SLACK_SIGNING_SECRET = SECRET

    delivered(make_alert("zap-01"))

    [post] = fake_slack.wait_for(1)
    assert buttons(post) == []
    assert Notification.objects.get(channel=Channel.SLACK).posted_ts == ""


def test_a_bot_without_a_signing_secret_posts_no_buttons(fake_slack_bot, make_alert, settings):
    settings.SLACK_SIGNING_SECRET = ""

    delivered(make_alert("zap-01"))

    [post] = fake_slack_bot.wait_for(1)
    assert buttons(post) == []
