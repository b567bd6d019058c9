"""The delivery engine: grouping, ordering, pacing and claims.

Engine logic runs against the real log channel and a small recording ``Transport`` (a fake
of our own interface); failures and crashes are in ``test_delivery_failures.py``, the Slack
and email paths end to end in ``test_delivery_e2e.py``.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

import alerts.delivery
from alerts.choices import Channel, EventKind, NotificationKind, NotificationState, Rule, Severity
from alerts.delivery import deliver_due
from alerts.models import ChannelStatus, Notification
from instances.models import Status
from tests.alerts.support import T0, Recorder, deliver, details, no_sleep, queue, state


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
    alert.queue_notifications(NotificationKind.FIRING, "b1", timezone.now())
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


# --- Claims --------------------------------------------------------------------------------------


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
