"""``manage.py deliver_notifications`` and the django-q2 tasks and schedule around delivery."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone
from django_q.models import Schedule

import alerts.management.commands.deliver_notifications as command
from alerts.choices import Channel, NotificationKind, NotificationState
from alerts.models import Alert, Notification
from alerts.tasks import deliver_notifications, ensure_schedules, evaluate_and_deliver
from instances.models import Status


def queue(alert: Alert, channel: str, batch: str = "b1") -> Notification:
    now = timezone.now()
    return Notification.objects.create(
        alert=alert, channel=channel, kind=NotificationKind.FIRING, batch=batch, created_at=now, next_attempt_at=now
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command("deliver_notifications", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_it_delivers_now_and_prints_a_one_line_summary(fake_slack, make_alert, settings):
    settings.ALERT_EMAILS = []
    fake_slack.fail_with(429, retry_after=30)
    for i in range(3):
        alert = make_alert(f"zap-{i}")
        queue(alert, Channel.LOG, batch=f"b{i}")
        if i == 0:
            queue(alert, Channel.SLACK)
            queue(alert, Channel.EMAIL)  # queued before the recipients were removed
    queue(make_alert("zap-9"), Channel.EMAIL)

    assert run() == "3 enviadas, 1 adiada (limite do Slack), 0 falharam, 2 não configuradas\n"
    assert fake_slack.attempts == [(fake_slack.WEBHOOK_PATH, 429)]


def test_loop_keeps_passing_until_ctrl_c_and_exits_cleanly(make_alert, monkeypatch):
    alert = make_alert("zap-01")
    queue(alert, Channel.LOG)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            queue(alert, Channel.LOG, batch="b2")  # something new between passes
        elif len(waits) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(command, "wait", wait)

    lines = run("--loop", "--interval", "2").splitlines()

    assert lines[0] == "Entregando a cada 2 s; Ctrl-C para parar."
    # Three passes; the idle third one prints nothing.
    assert [line[9:] for line in lines[1:3]] == ["1 enviada, 0 adiadas, 0 falharam, 0 não configuradas"] * 2
    assert lines[3:] == ["Encerrado."]
    assert waits == [2.0, 2.0, 2.0]
    assert Notification.objects.filter(state=NotificationState.SENT).count() == 2


def test_a_database_outage_is_one_clear_line_and_the_loop_survives_it(db, monkeypatch):
    def down(**kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(command, "deliver_due", down)
    with pytest.raises(CommandError, match="banco de dados indisponível: connection refused"):
        run()

    waits = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(command, "wait", wait)
    out = run("--loop")
    assert out.count("banco de dados indisponível: connection refused") == 2
    assert out.endswith("Encerrado.\n")


@pytest.mark.parametrize(
    "args", [("--interval", "0"), ("--interval", "abc"), ("--max-messages", "-1"), ("--max-messages", "2.5")]
)
def test_bad_arguments_are_refused_with_a_clear_message(db, args):
    with pytest.raises(CommandError, match="esperava um número positivo"):
        run(*args)
    assert not Notification.objects.exists()


# --- Tasks and schedule ----------------------------------------------------------------------------


def test_the_delivery_task_runs_one_pass_and_returns_its_summary(make_alert):
    queue(make_alert("zap-01"), Channel.LOG)

    assert deliver_notifications() == "1 enviada, 0 adiadas, 0 falharam, 0 não configuradas"


def test_evaluate_and_deliver_opens_the_alert_and_delivers_it_at_once(make_instance, settings, caplog):
    settings.SLACK_WEBHOOK_URL = settings.SLACK_BOT_TOKEN = ""
    settings.ALERT_EMAILS = []
    make_instance("zap-01", status=Status.BANNED)
    make_instance("zap-02", status=Status.CONNECTED)

    with caplog.at_level(logging.INFO, logger="alerts"):
        result = evaluate_and_deliver()

    evaluation, delivery = result.split("; entrega: ")
    assert evaluation.startswith("1 novos")
    assert delivery == "1 enviada, 0 adiadas, 0 falharam, 0 não configuradas"
    assert "[ALERTA] Instância zap-01 BANIDA" in caplog.text
    assert dict(Notification.objects.values_list("channel", "state")) == {
        "slack": "suppressed",
        "email": "suppressed",
        "log": "sent",
    }


def test_the_delivery_schedule_is_created_once_however_often_migrate_runs(db):
    Schedule.objects.create(name="deliver-notifications", func="old.path", schedule_type=Schedule.HOURLY)
    Schedule.objects.create(name="deliver-notifications", func="old.path", schedule_type=Schedule.HOURLY)

    ensure_schedules()
    ensure_schedules()

    [schedule] = Schedule.objects.filter(name="deliver-notifications")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "alerts.tasks.deliver_notifications",
        Schedule.MINUTES,
        1,
        -1,
    )
