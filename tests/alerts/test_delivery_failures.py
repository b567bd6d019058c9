"""The delivery engine when sending fails: backoff, give-up, rate limits, broken channels, requeue, crashes.

It runs against the real log channel and the recording ``Transport`` of ``support.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone

from alerts.channels.base import Message, TransportError
from alerts.choices import Channel, EventKind, NotificationState
from alerts.delivery import CLAIM_LEASE, requeue, unbreak
from alerts.models import AlertEvent, ChannelStatus
from tests.alerts.support import T0, Recorder, deliver, details, queue, state

# --- Failures, backoff, give-up ------------------------------------------------------------------


def test_a_transient_error_backs_off_exponentially_and_gives_up_after_the_budget(make_alert, settings, caplog):
    settings.NOTIFICATION_MAX_ATTEMPTS = 5
    settings.NOTIFICATION_BACKOFF_SECONDS = 10
    settings.NOTIFICATION_BACKOFF_MAX_SECONDS = 60
    alert = make_alert("zap-01")
    slack = Recorder(errors=[TransportError("HTTP 500")] * 5)
    with time_machine.travel(T0, tick=False) as clock:
        row = queue(alert)
        waits = []
        for _attempt in range(4):
            report = deliver(slack)
            row = state(row)
            waits.append((row.next_attempt_at - timezone.now()).total_seconds())
            assert deliver(slack).retrying == 0  # not due yet: nothing is attempted
            clock.move_to(row.next_attempt_at)
        with caplog.at_level(logging.ERROR, logger="alerts.delivery"):
            last = deliver(slack)

    for got, expected in zip(waits, [10, 20, 40, 60], strict=True):
        assert expected * 0.9 <= got <= expected
    assert report.retrying == 1
    assert (state(row).state, row.attempts, len(slack.calls)) == ("failed", 5, 5)
    assert str(last) == "0 enviadas, 0 adiadas, 1 falhou, 0 não configuradas"
    assert details(alert, EventKind.DELIVERY_FAILED)[2].startswith(
        "Slack: HTTP 500 (tentativa 3 de 5; próxima às 14:01:"
    )
    assert details(alert, EventKind.DELIVERY_GAVE_UP) == [
        "Slack: HTTP 500 — desistiu após 5 tentativas; reenfileire pelo admin."
    ]
    assert "gave up after 5 attempts" in caplog.text
    assert ChannelStatus.objects.get(channel=Channel.SLACK).consecutive_failures == 5


def test_once_a_failing_channel_delivers_again_its_backlog_stops_backing_off(make_alert):
    early = queue(make_alert("zap-01"), batch="early", at=T0 - timedelta(seconds=2))
    late = queue(make_alert("zap-02"), batch="late", at=T0 - timedelta(seconds=1))
    slack = Recorder(errors=[TransportError("Slack respondeu HTTP 503")])

    deliver(slack, now=T0)  # early fails and backs off ~10 s; late waits for the next pass
    assert state(early).next_attempt_at > T0 + timedelta(seconds=8)
    deliver(slack, now=T0 + timedelta(seconds=1))  # late goes through: Slack is back
    deliver(slack, now=T0 + timedelta(seconds=2))

    assert [m.items[0].alert.pk for m in slack.sent] == [late.alert_id, early.alert_id]
    assert state(early).sent_at == T0 + timedelta(seconds=2)


def test_a_crashing_transport_counts_as_a_failed_attempt_and_other_channels_go_on(make_alert):
    alert = make_alert("zap-01")
    slack_row, log_row = queue(alert, Channel.SLACK), queue(alert, Channel.LOG)

    report = deliver(Recorder(errors=[KeyError("boom")]))

    assert (state(slack_row).state, slack_row.attempts) == ("pending", 1)
    assert "erro interno: KeyError('boom')" in slack_row.last_error
    assert state(log_row).state == "sent"
    assert (report.sent, report.retrying) == (1, 1)


def test_a_rate_limit_pauses_the_channel_without_spending_the_retry_budget(make_alert, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 0
    rows = [queue(make_alert(f"zap-{i}"), batch=f"b{i}", at=T0 - timedelta(seconds=5 - i)) for i in range(3)]
    limited = TransportError("Slack respondeu HTTP 429", retry_after=30)
    slack = Recorder(errors=[None, *[limited] * 10])

    report = deliver(slack, now=T0)
    assert str(report) == "1 enviada, 2 adiadas (limite do Slack), 0 falharam, 0 não configuradas"
    assert state(rows[1]).next_attempt_at == state(rows[2]).next_attempt_at == T0 + timedelta(seconds=30)
    queue(make_alert("zap-9"), batch="b9", at=T0 + timedelta(seconds=10))
    paused = deliver(slack, now=T0 + timedelta(seconds=29))
    assert len(slack.calls) == 2  # nothing is tried while paused
    assert str(paused) == "0 enviadas, 1 adiada (limite do Slack), 0 falharam, 0 não configuradas"

    # Slack keeps answering 429 for far longer than the whole retry budget would last.
    for _ in range(9):
        deliver(slack, now=ChannelStatus.objects.get(channel=Channel.SLACK).paused_until)
    final = deliver(slack, now=ChannelStatus.objects.get(channel=Channel.SLACK).paused_until)

    assert len(slack.calls) == 14
    assert final.sent == 3
    assert [state(r).state for r in rows] == ["sent", "sent", "sent"]
    assert state(rows[1]).attempts == 1  # only the delivery counted
    assert details(rows[1].alert, EventKind.DELIVERY_FAILED)[0] == (
        "Slack: limite de taxa (Slack respondeu HTTP 429); pausado até 14:00:30 (não conta como tentativa)"
    )


def test_a_permanent_error_breaks_the_channel_and_keeps_the_rows_pending(make_alert, caplog):
    alert = make_alert("zap-01")
    row, log_row = queue(alert), queue(alert, Channel.LOG)
    slack = Recorder(errors=[TransportError("Slack respondeu HTTP 403: invalid_token", permanent=True)])

    with caplog.at_level(logging.ERROR, logger="alerts.delivery"):
        report = deliver(slack)
    queue(make_alert("zap-02"))
    later = deliver(slack)

    status = ChannelStatus.objects.get(channel=Channel.SLACK)
    assert status.is_broken and status.broken_reason.startswith("Slack respondeu HTTP 403: invalid_token")
    assert "channel broken" in caplog.text
    assert (state(row).state, row.attempts, state(log_row).state) == ("pending", 0, "sent")
    assert "canal desativado" in details(alert, EventKind.DELIVERY_FAILED)[0]
    assert report.held == 1 and report.broken == ["Slack"]
    assert len(slack.calls) == 1  # a broken channel is not tried again
    assert str(later) == "0 enviadas, 0 adiadas, 0 falharam, 0 não configuradas, 2 aguardando Slack (canal quebrado)"

    assert unbreak(Channel.SLACK, User.objects.create(username="ana")) is True
    assert deliver(slack).sent == 2
    status.refresh_from_db()
    assert not status.is_broken
    assert status.broken_reason.startswith("Reativado por ana em ")
    assert unbreak(Channel.SLACK) is False
    with pytest.raises(ValueError):
        unbreak("pager")


def test_a_broken_channel_comes_back_by_itself_once_its_configuration_changes(make_alert):
    row = queue(make_alert("zap-01"))
    slack = Recorder(errors=[TransportError("HTTP 404: no_service", permanent=True)])
    deliver(slack)

    assert deliver(slack).held == 1  # same configuration: still broken
    slack.fingerprint = "config-2"  # the operator fixed the webhook URL
    report = deliver(slack)

    assert report.sent == 1 and state(row).state == "sent"
    status = ChannelStatus.objects.get(channel=Channel.SLACK)
    assert not status.is_broken
    assert "a configuração mudou. Motivo anterior: HTTP 404: no_service" in status.broken_reason


def test_requeue_gives_a_failed_notification_a_fresh_budget_and_says_who(make_alert):
    alert = make_alert("zap-01")
    failed = queue(alert, state=NotificationState.FAILED, attempts=12, last_error="Slack: HTTP 500")
    pending = queue(alert, Channel.LOG)
    ana = User.objects.create(username="ana")

    assert requeue([failed.pk, pending.pk], ana) == 1
    assert requeue([failed.pk], ana) == 0  # already pending: nothing to do, nothing recorded

    assert (state(failed).state, failed.attempts) == ("pending", 0)
    [event] = AlertEvent.objects.filter(alert=alert, kind=EventKind.REQUEUED)
    assert event.actor == ana and event.detail.startswith("Slack: reenfileirada por ana")
    assert deliver(Recorder()).sent == 2


# --- Crashes -------------------------------------------------------------------------------------


def test_a_crashed_claim_is_delivered_again_once_its_lease_expired(make_alert):
    now = timezone.now()
    dead = queue(make_alert("zap-01"), claimed_until=now - timedelta(seconds=1), claimed_by="dead-pass")
    live = queue(make_alert("zap-02"), batch="b2", claimed_until=now + timedelta(seconds=30), claimed_by="live")
    slack = Recorder()

    deliver(slack)

    assert [m.items[0].alert.pk for m in slack.sent] == [dead.alert_id]
    assert (state(dead).state, state(live).state) == ("sent", "pending")


def test_a_crash_after_sending_but_before_recording_resends_and_never_drops(make_alert):
    row = queue(make_alert("zap-01"))

    class DiesAfterPosting(Recorder):
        def send(self, message: Message) -> None:
            super().send(message)
            if len(self.sent) == 1:
                raise KeyboardInterrupt  # the process is stopped right after Slack accepted the post

    slack = DiesAfterPosting()
    with pytest.raises(KeyboardInterrupt):
        deliver(slack)
    assert state(row).state == "pending"
    deliver(slack, now=timezone.now() + CLAIM_LEASE + timedelta(seconds=1))  # its claim ran out

    assert len(slack.sent) == 2  # at-least-once: a duplicate post, not a lost alert
    assert state(row).state == "sent"
