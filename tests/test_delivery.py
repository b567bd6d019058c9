"""The delivery engine: claims, grouping, pacing, retries, rate limits, broken channels, crashes.

Engine logic runs against the real log channel and a small recording ``Transport`` (a fake
of our own interface); the Slack and email paths end to end are in ``test_delivery_e2e.py``.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

import alerts.delivery
from alerts.channels.base import Message, Transport, TransportError
from alerts.delivery import deliver_due, requeue, unbreak
from alerts.models import (
    AlertEvent,
    Channel,
    ChannelStatus,
    EventKind,
    Notification,
    NotificationKind,
    NotificationState,
    Rule,
    Severity,
)
from instances.models import Status

T0 = datetime(2025, 3, 10, 17, 0, tzinfo=UTC)  # 14:00 in São Paulo


class Recorder(Transport):
    """Our own transport interface, recording what it is asked to send; fails as scripted."""

    def __init__(self, channel: str = Channel.SLACK, errors: list[BaseException | None] | None = None) -> None:
        self.channel = Channel(channel)
        self.errors = list(errors or [])
        self.configured = True
        self.fingerprint = "config-1"
        self.calls: list[Message] = []
        self.sent: list[Message] = []

    def is_configured(self) -> bool:
        return self.configured

    def config_fingerprint(self) -> str:
        return self.fingerprint

    def send(self, message: Message) -> None:
        self.calls.append(message)
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        self.sent.append(message)


def no_sleep(seconds: float) -> None:
    pass


def queue(alert, channel=Channel.SLACK, kind=NotificationKind.FIRING, batch="b1", **fields) -> Notification:
    at = fields.pop("at", None) or timezone.now()
    return Notification.objects.create(
        alert=alert, channel=channel, kind=kind, batch=batch, created_at=at, next_attempt_at=at, **fields
    )


def deliver(slack: Recorder | None = None, **kwargs) -> alerts.delivery.DeliveryReport:
    kwargs.setdefault("sleep", no_sleep)
    return deliver_due(transports={Channel.SLACK: slack} if slack else {}, **kwargs)


def state(row: Notification) -> Notification:
    row.refresh_from_db()
    return row


def details(alert, kind: EventKind) -> list[str]:
    return list(AlertEvent.objects.filter(alert=alert, kind=kind).values_list("detail", flat=True))


@pytest.fixture
def five(make_alert) -> list:
    """Five alerts of one evaluation, queued for Slack and the log in batch b1."""
    found = []
    for i in range(5):
        alert = make_alert(f"zap-{i:02d}", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR)
        queue(alert, Channel.SLACK)
        queue(alert, Channel.LOG)
        found.append(alert)
    return found


# --- Grouping, ordering, success ------------------------------------------------------------------


def test_five_notifications_of_one_batch_make_one_message_per_channel(five, caplog):
    slack = Recorder()
    with caplog.at_level(logging.INFO, logger="alerts"):
        report = deliver(slack)

    assert len(slack.sent) == 1
    assert {i.alert.pk for i in slack.sent[0].items} == {a.pk for a in five}
    assert len([r for r in caplog.records if r.getMessage().startswith("[ALERTA] Instância zap-")]) == 5
    assert set(Notification.objects.values_list("state", flat=True)) == {NotificationState.SENT}
    assert Notification.objects.filter(attempts=1, sent_at__isnull=False).count() == 10
    assert (report.sent, report.messages) == (10, 2)
    assert str(report) == "10 enviadas, 0 adiadas, 0 falharam, 0 não configuradas"
    assert sorted(details(five[0], EventKind.NOTIFIED)) == [
        "Log: registrado (mensagem agrupada com 5 alertas)",
        "Slack: enviado (mensagem agrupada com 5 alertas)",
    ]
    assert ChannelStatus.objects.get(channel=Channel.SLACK).last_success_at is not None


def test_items_go_firing_critical_error_warning_then_reminders_then_resolved(make_alert):
    resolved = make_alert("a", rule=Rule.INSTANCE_OFFLINE, severity=Severity.CRITICAL)
    reminder = make_alert("b", rule=Rule.INSTANCE_OFFLINE, severity=Severity.CRITICAL)
    warning = make_alert("c", rule=Rule.CAPACITY_HIGH, severity=Severity.WARNING)
    error = make_alert("d", rule=Rule.INSTANCE_OFFLINE, severity=Severity.ERROR)
    critical = make_alert("e", rule=Rule.INSTANCE_BANNED, severity=Severity.CRITICAL)
    queue(resolved, kind=NotificationKind.RESOLVED)
    queue(reminder, kind=NotificationKind.REMINDER)
    for alert in (warning, error, critical):
        queue(alert)
    slack = Recorder()

    deliver(slack)

    [message] = slack.sent
    assert [(i.alert, i.kind) for i in message.items] == [
        (critical, "firing"),
        (error, "firing"),
        (warning, "firing"),
        (reminder, "reminder"),
        (resolved, "resolved"),
    ]
    assert details(reminder, EventKind.NOTIFIED) == ["Slack: lembrete enviado (mensagem agrupada com 5 alertas)"]


def test_a_message_tells_the_fleet_context_and_batches_go_oldest_first(make_alert, make_instance):
    make_instance("off-1", status=Status.DISCONNECTED)
    make_instance("gone", status=Status.CONNECTED, is_active=False)
    first, second = make_alert("zap-01"), make_alert("zap-02")
    queue(second, batch="new", at=timezone.now())
    queue(first, batch="old", at=timezone.now() - timedelta(seconds=30))
    slack = Recorder()

    deliver(slack)

    assert [m.items[0].alert for m in slack.sent] == [first, second]
    assert slack.sent[0].context == {"online": 2, "total": 3}


def test_the_log_channel_always_delivers(make_alert, caplog):
    alert = make_alert("zap-07")
    row = queue(alert, Channel.LOG)

    with caplog.at_level(logging.INFO, logger="alerts"):
        deliver()

    assert state(row).state == NotificationState.SENT
    assert "[ALERTA] Instância zap-07 BANIDA: zap-07 foi banida" in caplog.text
    assert details(alert, EventKind.NOTIFIED) == ["Log: registrado"]


def test_unconfigured_channels_are_suppressed_from_the_start_and_never_attempted(make_alert, settings):
    settings.SLACK_WEBHOOK_URL = settings.SLACK_BOT_TOKEN = ""
    settings.ALERT_EMAILS = []
    alert = make_alert("zap-01")  # a ban: Slack, email and the log
    alert.notify(NotificationKind.FIRING, "b1", timezone.now())
    late = queue(make_alert("zap-02"), Channel.SLACK)  # queued while Slack was still configured
    slack = Recorder()
    slack.configured = False

    report = deliver(slack)

    assert slack.calls == []
    assert dict(alert.notifications.values_list("channel", "state")) == {
        "slack": "suppressed",
        "email": "suppressed",
        "log": "sent",
    }
    assert (state(late).state, late.attempts, late.last_error) == ("suppressed", 0, "canal não configurado")
    assert str(report) == "1 enviada, 0 adiadas, 0 falharam, 1 não configurada"


# --- Pacing and bounds ---------------------------------------------------------------------------


def test_it_keeps_about_one_message_a_second_per_channel_with_the_injected_sleep(make_alert, settings):
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 1.0
    ChannelStatus.objects.create(channel=Channel.SLACK, last_sent_at=T0 - timedelta(seconds=0.4))
    for i in range(3):
        alert = make_alert(f"zap-{i}")
        queue(alert, batch=f"b{i}", at=T0 - timedelta(seconds=10 - i))
        queue(alert, Channel.LOG, batch=f"b{i}", at=T0 - timedelta(seconds=10 - i))
    slept: list[float] = []
    slack = Recorder()

    deliver(slack, now=T0, sleep=slept.append)

    assert len(slack.sent) == 3
    # 0.6 s to complete the gap left by the previous pass, then 1 s each; the log is not paced.
    assert slept == pytest.approx([0.6, 1.0, 1.0])
    assert ChannelStatus.objects.get(channel=Channel.SLACK).last_sent_at == T0 + timedelta(seconds=2.6)


def test_a_pass_is_bounded_by_messages_and_by_time(make_alert, settings):
    settings.CHANNEL_MIN_INTERVAL_SECONDS = 1.0
    for i in range(6):
        queue(make_alert(f"zap-{i}"), batch=f"b{i}", at=T0 - timedelta(seconds=10 - i))
    slack = Recorder()

    by_count = deliver(slack, now=T0, max_messages=2)
    by_time = deliver(slack, now=T0 + timedelta(seconds=10), budget_seconds=1.5)

    assert (by_count.messages, by_time.messages) == (2, 2)
    assert by_time.left_over == 2  # claimed, not reached: released for the next pass at once
    assert Notification.objects.filter(state="pending", claimed_by="").count() == 2
    with pytest.raises(ValueError):
        deliver(slack, max_messages=0)


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


# --- Claims and crashes --------------------------------------------------------------------------


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
    deliver(slack)

    assert len(slack.sent) == 2  # at-least-once: a duplicate post, not a lost alert
    assert state(row).state == "sent"


@pytest.mark.skipif(django_settings.IS_SQLITE, reason="SQLite serialises writers: the race needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_never_send_a_notification_twice(make_alert, monkeypatch):
    alerts_ = [make_alert(f"zap-{i:02d}") for i in range(8)]
    for i, alert in enumerate(alerts_):
        queue(alert, Channel.LOG, batch=f"b{i % 3}")
    log = Recorder(Channel.LOG)
    off = Recorder(Channel.EMAIL)
    off.configured = False
    # Both passes select the same due rows before either claims them: only the UPDATE decides.
    both_selected = threading.Barrier(2, timeout=10)
    select = alerts.delivery.due_batch_ids

    def select_then_wait(*args, **kwargs):
        found = select(*args, **kwargs)
        both_selected.wait()
        return found

    monkeypatch.setattr(alerts.delivery, "due_batch_ids", select_then_wait)
    reports = []

    def run() -> None:
        try:
            transports = {Channel.LOG: log, Channel.SLACK: off, Channel.EMAIL: off}
            reports.append(deliver_due(sleep=no_sleep, transports=transports))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    sent = sorted(item.alert.pk for message in log.sent for item in message.items)
    assert sent == sorted(a.pk for a in alerts_)
    assert sorted(r.sent for r in reports) == [0, 8]
    assert Notification.objects.filter(state="sent", attempts=1).count() == 8
