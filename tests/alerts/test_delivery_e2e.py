"""Delivery end to end: the engine and the real channels against real local servers.

The fake Slack (real slack-sdk over HTTP) answers 429 + Retry-After, 5xx, hangs past the
timeout, or refuses the configuration, exactly as Slack does; the SMTP server is a real one.
Time moves with ``now=`` (no waiting on backoff).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from alerts.choices import Channel, EventKind, NotificationKind, NotificationState, Rule, Severity
from alerts.delivery import deliver_due
from alerts.models import AlertEvent, ChannelStatus, Notification

T0 = datetime(2025, 3, 10, 17, 20, tzinfo=UTC)  # 14:20 in São Paulo


def queue(alert, batch: str = "b1", at: datetime = T0, channel: str = Channel.SLACK) -> Notification:
    return Notification.objects.create(
        alert=alert, channel=channel, kind=NotificationKind.FIRING, batch=batch, created_at=at, next_attempt_at=at
    )


def deliver(now: datetime):
    return deliver_due(now, sleep=lambda seconds: None)


def state(row: Notification) -> Notification:
    row.refresh_from_db()
    return row


def slack_status() -> ChannelStatus:
    return ChannelStatus.objects.get(channel=Channel.SLACK)


def test_a_grouped_batch_is_one_post_on_slack(fake_slack, make_alert):
    for i in range(5):
        queue(make_alert(f"zap-{i:02d}", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR))

    report = deliver(T0)

    [post] = fake_slack.wait_for(1)
    assert all(f"zap-{i:02d}" in post.blocks_text() for i in range(5))
    assert report.sent == 5 and report.messages == 1


def test_slack_429_pauses_for_retry_after_then_delivers_without_spending_an_attempt(fake_slack, make_alert):
    fake_slack.fail_with(429, times=1, retry_after=7)
    row = queue(make_alert())

    first = deliver(T0)
    assert (slack_status().paused_until, state(row).next_attempt_at) == (T0 + timedelta(seconds=7),) * 2
    deliver(T0 + timedelta(seconds=6))
    assert len(fake_slack.attempts) == 1  # Retry-After honoured: nothing sent while paused
    last = deliver(T0 + timedelta(seconds=7))

    assert str(first) == "0 enviadas, 1 adiada (limite do Slack), 0 falharam, 0 não configuradas"
    assert [status for _path, status in fake_slack.attempts] == [429, 200]
    assert last.sent == 1 and (state(row).state, row.attempts) == ("sent", 1)
    assert len(fake_slack.messages) == 1


def test_slack_500_is_retried_with_backoff_until_it_goes_through(fake_slack, make_alert):
    fake_slack.fail_with(500, times=2)
    row = queue(make_alert())

    deliver(T0)
    first_retry = state(row).next_attempt_at
    deliver(first_retry)
    second_retry = state(row).next_attempt_at
    deliver(second_retry)

    assert 9 <= (first_retry - T0).total_seconds() <= 10
    assert 18 <= (second_retry - first_retry).total_seconds() <= 20
    assert (state(row).state, row.attempts) == ("sent", 3)
    assert [status for _path, status in fake_slack.attempts] == [500, 500, 200]
    [failed, _] = AlertEvent.objects.filter(alert=row.alert, kind=EventKind.DELIVERY_FAILED)
    assert failed.detail.startswith("Slack respondeu HTTP 500: internal_error (tentativa 1 de 12; próxima às 14:20:")
    assert slack_status().consecutive_failures == 0  # reset by the delivery


def test_a_slack_timeout_is_a_transient_failure_and_the_alert_still_arrives(fake_slack, make_alert, settings):
    settings.SLACK_TIMEOUT = 1
    fake_slack.hang(2.5, times=1)
    row = queue(make_alert())

    report = deliver(T0)
    assert report.retrying == 1
    assert (state(row).state, row.attempts) == ("pending", 1)
    assert "Slack inacessível" in row.last_error
    deliver(row.next_attempt_at)

    assert state(row).state == "sent"
    assert len(fake_slack.wait_for(1)) >= 1  # at least once: a timed-out post may also have landed


def test_a_gone_webhook_breaks_slack_until_the_url_is_changed(fake_slack, make_alert, settings):
    fake_slack.fail_with(404, times=1)  # body "no_service": the webhook was deleted
    row = queue(make_alert())

    deliver(T0)
    assert slack_status().is_broken
    assert deliver(T0 + timedelta(minutes=5)).held == 1
    assert len(fake_slack.attempts) == 1  # a broken channel is left alone
    settings.SLACK_WEBHOOK_URL = fake_slack.url_webhook + "?novo=1"  # the operator sets a new webhook
    report = deliver(T0 + timedelta(minutes=6))

    assert report.sent == 1 and state(row).state == NotificationState.SENT
    assert row.attempts == 1  # the permanent error did not eat the budget
    assert "Slack respondeu HTTP 404: no_service" in slack_status().broken_reason
    assert not slack_status().is_broken


@pytest.mark.parametrize("wrong", ["token", "channel"])
def test_a_refused_bot_token_or_channel_breaks_slack_and_keeps_the_alert(fake_slack_bot, make_alert, settings, wrong):
    if wrong == "token":
        settings.SLACK_BOT_TOKEN = "xoxb-revoked"
    else:
        settings.SLACK_CHANNEL = "#canal-apagado"
    row = queue(make_alert())

    deliver(T0)
    assert slack_status().is_broken and state(row).state == "pending"
    settings.SLACK_BOT_TOKEN, settings.SLACK_CHANNEL = fake_slack_bot.token, "#julia-alertas"
    deliver(T0 + timedelta(minutes=1))

    assert state(row).state == "sent"
    assert fake_slack_bot.wait_for(1)[0].channel == "#julia-alertas"


def test_posts_keep_the_channel_pace(fake_slack, make_alert, settings):
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0.1
    for i in range(3):
        queue(make_alert(f"zap-{i}"), batch=f"b{i}", at=T0 - timedelta(seconds=3 - i))

    deliver_due()  # the real clock and the real sleep

    posts = fake_slack.wait_for(3)
    gaps = [b.monotonic - a.monotonic for a, b in pairwise(posts)]
    assert all(gap >= 0.09 for gap in gaps)


def test_a_ban_is_emailed_to_every_recipient_and_the_timeline_says_so(smtp_server, make_alert):
    row = queue(make_alert("zap-01"), channel=Channel.EMAIL)

    report = deliver(T0)

    [mail] = smtp_server.wait_for(1)
    assert sorted(mail.rcpt_tos) == ["ops@example.com", "plantao@example.com"]
    assert "zap-01" in mail.subject
    assert report.sent == 1 and state(row).state == "sent"
    assert AlertEvent.objects.get(alert=row.alert, kind=EventKind.NOTIFIED).detail == (
        "E-mail: enviado para 2 destinatários"
    )


def test_refused_smtp_credentials_break_email_until_the_password_changes(smtp_server, make_alert, settings):
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "monitor", "velha"
    smtp_server.reject_auth()
    row = queue(make_alert("zap-01"), channel=Channel.EMAIL)

    deliver(T0)
    assert ChannelStatus.objects.get(channel=Channel.EMAIL).is_broken
    assert state(row).state == "pending" and row.attempts == 0
    smtp_server.recover()
    settings.EMAIL_HOST_PASSWORD = "nova"
    deliver(T0 + timedelta(minutes=1))

    assert state(row).state == "sent"
    assert len(smtp_server.wait_for(1)) == 1
