"""The Slack channel against a real local Slack (tests/fakes/slack.py) through the real slack-sdk."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from alerts.channels import render
from alerts.channels.base import TransportError
from alerts.channels.slack import SlackTransport
from alerts.choices import NotificationKind, Rule, Severity
from julia_monitor.lib import text
from tests.fakes.common import closed_port
from tests.fakes.slack import FakeSlack


@pytest.fixture(params=["webhook", "bot"])
def any_slack(request: pytest.FixtureRequest) -> FakeSlack:
    """The fake Slack in both modes: incoming webhook and bot token."""
    return request.getfixturevalue("fake_slack" if request.param == "webhook" else "fake_slack_bot")


def text_objects(value: object) -> list[dict]:
    """Return every Block Kit text object (``{"type": "plain_text" | "mrkdwn", "text": …}``) in ``value``."""
    if isinstance(value, list):
        return [t for v in value for t in text_objects(v)]
    if not isinstance(value, dict):
        return []
    if value.get("type") in ("plain_text", "mrkdwn") and isinstance(value.get("text"), str):
        return [value]
    return [t for v in value.values() for t in text_objects(v)]


def send_error(message: object) -> TransportError:
    with pytest.raises(TransportError) as caught:
        SlackTransport().send(message)  # type: ignore[arg-type]
    return caught.value


def test_it_posts_a_ban_with_blocks_and_a_text_fallback(any_slack, make_alert, make_message, settings):
    alert = make_alert("zap-01")

    SlackTransport().send(make_message(alert))

    [post] = any_slack.wait_for(1)
    header = post.blocks[0]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "🚨 Instância zap-01 BANIDA", "emoji": True},
    }
    link = f"{settings.SITE_URL}/alertas/{alert.pk}/"
    shown = post.blocks_text()
    assert "Instância: zap-01" in shown
    assert "Motivo: zap-01 foi banida pelo WhatsApp: conta suspensa (403)." in shown
    assert "Desde: 10/03 14:05" in shown  # São Paulo time, not UTC
    assert f"<{link}|Abrir no portal>" in shown
    assert post.text.startswith("🚨 Instância zap-01 BANIDA: zap-01 foi banida")
    assert "10/03 14:05" in post.text
    assert link in post.text
    assert "<!channel>" not in post.text


def test_the_bot_posts_to_the_configured_channel(fake_slack_bot, make_alert, make_message):
    SlackTransport().send(make_message(make_alert()))

    [post] = fake_slack_bot.wait_for(1)
    assert post.path == "/api/chat.postMessage"
    assert post.channel == "#julia-alertas"


def test_a_dead_fleet_wakes_the_whole_channel(fake_slack, make_alert, make_message):
    alert = make_alert(
        None,
        rule=Rule.ALL_OFFLINE,
        title="SISTEMA CRÍTICO: todas as instâncias offline",
        message="Nenhuma das 3 instâncias ativas está conectada: nenhuma mensagem está saindo.",
    )

    SlackTransport().send(make_message(alert, online=0, total=3))

    [post] = fake_slack.wait_for(1)
    assert post.text.startswith("<!channel> 🚨 SISTEMA CRÍTICO: todas as instâncias offline")
    assert post.blocks[1]["text"]["text"].startswith("Instância: frota")
    assert post.blocks[2]["text"] == {
        "type": "mrkdwn",
        "text": f"<!channel> <{render.alert_url(alert)}|Abrir no portal>",
    }
    assert "0 de 3 instâncias online" in post.blocks_text()


def test_the_resolution_of_a_dead_fleet_does_not_ping_everyone(fake_slack, make_alert, make_message):
    alert = make_alert(None, rule=Rule.ALL_OFFLINE, title="SISTEMA CRÍTICO: todas as instâncias offline")
    alert.resolved_at = alert.first_seen_at + timedelta(minutes=3)

    SlackTransport().send(make_message((alert, NotificationKind.RESOLVED)))

    [post] = fake_slack.wait_for(1)
    assert "<!channel>" not in post.text


def test_a_resolution_says_so_and_how_long_the_alert_lasted(fake_slack, make_alert, make_message):
    alert = make_alert(rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, title="Instância zap-01 offline")
    alert.resolved_at = alert.first_seen_at + timedelta(minutes=12, seconds=40)

    SlackTransport().send(make_message((alert, NotificationKind.RESOLVED)))

    [post] = fake_slack.wait_for(1)
    assert post.blocks[0]["text"]["text"] == "✅ Resolvido: Instância zap-01 offline (durou 12 min)"
    assert "Duração: 12 min" in post.blocks_text()


def test_a_reminder_says_how_long_nobody_acknowledged(fake_slack, make_alert, make_message):
    alert = make_alert()

    SlackTransport().send(
        make_message((alert, NotificationKind.REMINDER), at=alert.first_seen_at + timedelta(minutes=35))
    )

    [post] = fake_slack.wait_for(1)
    assert post.blocks[0]["text"]["text"] == "🔁 Lembrete: Instância zap-01 BANIDA (sem reconhecimento há 35 min)"


def test_alerts_of_one_batch_go_out_as_one_grouped_post(fake_slack, make_alert, make_message):
    banned = make_alert("zap-01")
    offline = [
        make_alert(name, rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, title=f"Instância {name} offline")
        for name in ("zap-02", "zap-03")
    ]
    resolved = [
        make_alert(name, rule=Rule.CAPACITY_HIGH, severity=Severity.WARNING, title=f"Capacidade alta: {name}")
        for name in ("zap-04", "zap-05")
    ]
    for alert in resolved:
        alert.resolved_at = alert.first_seen_at + timedelta(hours=2, minutes=5)

    SlackTransport().send(
        make_message(*offline, *[(a, NotificationKind.RESOLVED) for a in resolved], banned, online=3, total=5)
    )

    [post] = fake_slack.wait_for(1)
    assert post.blocks[0]["text"]["text"] == "🚨 3 alertas novos · ✅ 2 resolvidos"
    # One section per alert, its words as written and its page as the button beside them.
    sections = post.blocks[1:-1]
    lines = [s["text"]["text"] for s in sections]
    # Worst first: the ban, then the offline ones, then what got better.
    assert lines[0].startswith("🚨 Instância zap-01 BANIDA — zap-01 foi banida")
    assert lines[1].startswith("🔴 Instância zap-02 offline")
    assert "desde 10/03 14:05" in lines[1]
    assert sections[1]["accessory"]["url"] == render.alert_url(offline[0])
    assert lines[3] == "✅ Resolvido: Capacidade alta: zap-04 (durou 2 h 5 min)"
    assert sections[3]["accessory"]["url"] == render.alert_url(resolved[0])
    assert len(lines) == 5
    assert post.text.startswith("🚨 3 alertas novos · ✅ 2 resolvidos\n")
    assert "3 de 5 instâncias online" in post.blocks_text()


def test_a_storm_lists_fifteen_alerts_and_counts_the_rest(fake_slack, make_alert, make_message):
    alerts = [
        make_alert(
            f"zap-{n:02}", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR, title=f"Instância zap-{n:02} offline"
        )
        for n in range(1, 21)
    ]

    SlackTransport().send(make_message(*alerts))

    [post] = fake_slack.wait_for(1)
    assert post.blocks[0]["text"]["text"] == "🔴 20 alertas novos"
    shown = post.blocks_text()
    assert shown.count("Instância zap-") == 15
    assert "+5 outros" in shown
    assert "+5 outros" in post.text


def test_long_alerts_still_fit_slack_limits(fake_slack, make_alert, make_message):
    # The fake refuses blocks over Slack's limits (header 150, section 3000) as Slack does.
    alerts = [make_alert(f"zap-{n:02}", title="T" * 199, message="motivo " * 400) for n in range(1, 4)]

    SlackTransport().send(make_message(alerts[0]))
    SlackTransport().send(make_message(*alerts))

    posts = fake_slack.wait_for(2)
    assert len(posts[0].blocks[0]["text"]["text"]) == 150


def test_text_from_the_gateway_cannot_ping_the_channel(fake_slack, make_alert, make_message):
    alert = make_alert(message="erro <!channel> <http://x|clique> & cia")

    SlackTransport().send(make_message(alert))

    [post] = fake_slack.wait_for(1)
    assert "<!channel>" not in post.text
    assert "erro &lt;!channel&gt; &lt;http://x|clique&gt; &amp; cia" in post.text
    # In the blocks it is plain text, which Slack shows as written and never parses.
    assert all("clique" not in t["text"] for t in text_objects(post.blocks) if t["type"] == "mrkdwn")
    assert any("erro <!channel> <http://x|clique> & cia" in t["text"] for t in text_objects(post.blocks))


def test_a_rate_limit_tells_delivery_when_to_retry(any_slack, make_alert, make_message):
    any_slack.fail_with(429, retry_after=7)

    error = send_error(make_message(make_alert()))

    assert error.retry_after == 7
    assert not error.permanent
    # No retry inside the transport: delivery owns the pace.
    assert len(any_slack.attempts) == 1


def test_a_rate_limit_without_retry_after_still_waits_and_spends_no_retry(any_slack, make_alert, make_message):
    any_slack.fail_with(429)

    error = send_error(make_message(make_alert()))

    assert error.retry_after == 30
    assert not error.permanent


@pytest.mark.parametrize("status", [500, 503])
def test_a_slack_server_error_is_retried_later(any_slack, make_alert, make_message, status):
    any_slack.fail_with(status)

    error = send_error(make_message(make_alert()))

    assert not error.permanent
    assert error.retry_after is None
    assert len(any_slack.attempts) == 1


def test_a_hung_slack_times_out_as_a_transient_error(any_slack, make_alert, make_message, settings):
    settings.SLACK_TIMEOUT = 0.3
    any_slack.hang(5)
    started = time.monotonic()

    error = send_error(make_message(make_alert()))

    assert not error.permanent
    assert time.monotonic() - started < 2


def test_an_unreachable_slack_is_transient(fake_slack, make_alert, make_message, settings):
    settings.SLACK_WEBHOOK_URL = f"http://127.0.0.1:{closed_port()}{FakeSlack.WEBHOOK_PATH}"

    error = send_error(make_message(make_alert()))

    assert not error.permanent


@pytest.mark.parametrize(
    ("status", "body"), [(404, "no_service"), (403, "invalid_token"), (410, "channel_is_archived")]
)
def test_a_removed_webhook_is_permanent(fake_slack, make_alert, make_message, status, body):
    fake_slack.fail_with(status, body=body)

    error = send_error(make_message(make_alert()))

    assert error.permanent
    assert body in str(error)


def test_a_bad_bot_token_is_permanent(fake_slack_bot, make_alert, make_message, settings):
    settings.SLACK_BOT_TOKEN = "xoxb-revogado"

    error = send_error(make_message(make_alert()))

    assert error.permanent
    assert "invalid_auth" in str(error)
    assert fake_slack_bot.messages == []


def test_an_unknown_channel_is_permanent(fake_slack_bot, make_alert, make_message, settings):
    settings.SLACK_CHANNEL = "#nao-existe"

    error = send_error(make_message(make_alert()))

    assert error.permanent
    assert "channel_not_found" in str(error)


def test_slack_is_configured_by_a_webhook_or_a_bot_token(settings):
    settings.SLACK_WEBHOOK_URL = settings.SLACK_BOT_TOKEN = ""
    assert not SlackTransport().is_configured()
    settings.SLACK_BOT_TOKEN = "xoxb-1"
    assert SlackTransport().is_configured()


def test_fixing_the_configuration_changes_the_fingerprint(settings):
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_BOT_TOKEN = "xoxb-1"
    before = SlackTransport().config_fingerprint()
    settings.SLACK_CHANNEL = "#outro"
    after_channel = SlackTransport().config_fingerprint()
    settings.SLACK_WEBHOOK_URL = "https://hooks.slack.com/services/T1/B1/novo"
    after_webhook = SlackTransport().config_fingerprint()

    assert len({before, after_channel, after_webhook}) == 3
    assert SlackTransport().config_fingerprint() == after_webhook


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (0.5, "menos de 1 min"),
        (12, "12 min"),
        (60, "1 h"),
        (125, "2 h 5 min"),
        (3 * 1440, "3 d"),
        (1440 + 240, "1 d 4 h"),
    ],
)
def test_durations_read_naturally(minutes, expected):
    assert text.duration(timedelta(minutes=minutes)) == expected


def test_slack_answers_again_after_an_outage(fake_slack, make_alert, make_message):
    back = False
    fake_slack.fail_until(lambda: back, status=503)
    message = make_message(make_alert())

    assert not send_error(message).permanent
    back = True
    SlackTransport().send(message)

    assert len(fake_slack.wait_for(1)) == 1
    assert [status for _, status in fake_slack.attempts] == [503, 200]


def test_posting_faster_than_slack_allows_is_rate_limited(fake_slack, make_alert, make_message):
    fake_slack.rate_limit(per_second=1, burst=1, retry_after=1)
    message = make_message(make_alert())

    SlackTransport().send(message)
    error = send_error(message)

    assert error.retry_after == 1
    assert len(fake_slack.messages) == 1
