"""Maintenance windows: alerts they cover are recorded and held, then posted once when the window ends."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from alerts.choices import AlertState, Channel, EventKind, NotificationKind, NotificationState, Rule
from alerts.maintenance import MaintenanceWindow
from alerts.models import Alert, Notification, new_batch
from alerts.rules import evaluate, release_ended_windows
from instances.models import Instance, Status
from tests.alerts.support import T0, Recorder, deliver, details

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def slack_configured(settings) -> None:
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"
    settings.OFFLINE_DEBOUNCE_SECONDS = 60


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def fleet(make_instance, clock) -> list[Instance]:
    long_ago = timezone.now() - timedelta(hours=1)
    return [
        make_instance(f"zap-0{n}", status=Status.CONNECTED, status_since=long_ago, last_seen_connected_at=long_ago)
        for n in range(1, 4)
    ]


def go_offline(instance: Instance) -> None:
    instance.record_status(Status.DISCONNECTED, "", at=timezone.now() - timedelta(minutes=2))


def come_back(instance: Instance) -> None:
    instance.record_status(Status.CONNECTED, "", at=timezone.now())


def window(*instances: Instance, minutes: int = 30, whole_fleet: bool = False) -> MaintenanceWindow:
    return MaintenanceWindow.schedule(
        ends_at=timezone.now() + timedelta(minutes=minutes),
        reason="Troca de chip",
        instances=instances,
        whole_fleet=whole_fleet,
    )


def slack_rows(alert: Alert, kind: str = NotificationKind.FIRING) -> list[Notification]:
    return list(alert.notifications.filter(channel=Channel.SLACK, kind=kind).order_by("id"))


def slack_sent() -> list:
    slack = Recorder()
    deliver(slack)
    return slack.sent


def offline_alert(instance: Instance) -> Alert:
    return Alert.objects.get(rule=Rule.INSTANCE_OFFLINE, instance=instance)


def test_an_alert_inside_a_window_is_recorded_but_held(fleet) -> None:
    held_by = window(fleet[0])
    go_offline(fleet[0])

    evaluate()

    alert = offline_alert(fleet[0])
    assert alert.state == AlertState.FIRING
    [slack] = slack_rows(alert)
    assert (slack.state, slack.window) == (NotificationState.HELD, held_by)
    assert details(alert, EventKind.HELD) == ["notificação de disparo retida pela manutenção 'Troca de chip' até 14:30"]
    assert slack_sent() == []


def test_the_log_still_writes_the_line_marked_as_maintenance(fleet, caplog) -> None:
    window(fleet[0])
    go_offline(fleet[0])
    evaluate()

    with caplog.at_level(logging.INFO, logger="alerts"):
        deliver(Recorder())

    lines = [r.getMessage() for r in caplog.records if r.name == "alerts"]
    assert lines == ["[ALERTA] Instância zap-01 offline: " + offline_alert(fleet[0]).message + " (em manutenção)"]


def test_an_alert_still_true_at_the_end_is_posted_once_with_its_current_words(fleet, clock) -> None:
    window(fleet[0])
    go_offline(fleet[0])
    evaluate()
    slack = Recorder()

    clock.shift(timedelta(minutes=31))
    evaluate()
    evaluate()  # a second evaluation (or a second worker) posts nothing more
    deliver(slack)

    alert = offline_alert(fleet[0])
    held, posted = slack_rows(alert)
    assert (held.state, posted.state, posted.window) == (NotificationState.HELD, NotificationState.SENT, None)
    assert len(slack.sent) == 1
    assert [i.alert.pk for i in slack.sent[0].items] == [alert.pk]
    assert details(alert, EventKind.RELEASED) == [
        "A manutenção 'Troca de chip' terminou e o alerta segue ativo: enviado agora."
    ]


def test_an_alert_that_resolved_during_the_window_posts_nothing(fleet, clock) -> None:
    window(fleet[0])
    go_offline(fleet[0])
    evaluate()
    clock.shift(timedelta(minutes=5))
    come_back(fleet[0])
    evaluate()

    clock.shift(timedelta(minutes=30))
    evaluate()

    alert = offline_alert(fleet[0])
    assert alert.state == AlertState.RESOLVED
    rows = alert.notifications.exclude(channel=Channel.LOG)
    assert {(r.kind, r.state) for r in rows} == {
        (NotificationKind.FIRING, NotificationState.HELD),
        (NotificationKind.RESOLVED, NotificationState.HELD),
    }
    assert slack_sent() == []


def test_an_uncovered_instance_is_posted_normally_during_a_window(fleet) -> None:
    window(fleet[0])
    go_offline(fleet[1])

    evaluate()

    [slack] = slack_rows(offline_alert(fleet[1]))
    assert (slack.state, slack.window) == (NotificationState.PENDING, None)


def test_an_instance_window_does_not_cover_fleet_rules(fleet, settings) -> None:
    window(*fleet)
    for instance in fleet:
        go_offline(instance)

    evaluate()

    [fleet_alert] = Alert.objects.filter(rule=Rule.ALL_OFFLINE)
    assert [r.state for r in slack_rows(fleet_alert)] == [NotificationState.PENDING]


def test_a_whole_fleet_window_holds_fleet_rules(fleet) -> None:
    window(whole_fleet=True)
    for instance in fleet:
        go_offline(instance)

    evaluate()

    [fleet_alert] = Alert.objects.filter(rule=Rule.ALL_OFFLINE)
    assert [r.state for r in slack_rows(fleet_alert)] == [NotificationState.HELD]


def test_ending_a_window_early_releases_what_it_held(fleet, clock) -> None:
    held_by = window(fleet[0], minutes=120)
    go_offline(fleet[0])
    evaluate()
    clock.shift(timedelta(minutes=10))

    assert held_by.end_early()
    assert not held_by.end_early()  # already over
    evaluate()

    _held, posted = slack_rows(offline_alert(fleet[0]))
    assert posted.state == NotificationState.PENDING
    assert not MaintenanceWindow.objects.active(timezone.now()).exists()


def test_an_alert_posted_before_the_window_gets_its_resolution_posted(fleet, clock) -> None:
    go_offline(fleet[0])
    evaluate()
    window(fleet[0])
    come_back(fleet[0])

    evaluate()

    [resolution] = slack_rows(offline_alert(fleet[0]), NotificationKind.RESOLVED)
    assert resolution.state == NotificationState.PENDING


def test_overlapping_windows_hold_until_the_last_one_ends(fleet, clock) -> None:
    window(fleet[0], minutes=30)
    window(whole_fleet=True, minutes=60)
    go_offline(fleet[0])
    evaluate()

    clock.shift(timedelta(minutes=31))
    evaluate()
    assert [r.state for r in slack_rows(offline_alert(fleet[0]))] == [NotificationState.HELD]

    clock.shift(timedelta(minutes=30))
    evaluate()
    held = [NotificationState.HELD, NotificationState.PENDING]
    assert [r.state for r in slack_rows(offline_alert(fleet[0]))] == held


@pytest.mark.parametrize(
    ("minutes", "instances", "whole_fleet", "field"),
    [(-5, True, False, "ends_at"), (0, True, False, "ends_at"), (30, False, False, "instances")],
)
def test_a_window_must_end_after_it_starts_and_cover_something(fleet, minutes, instances, whole_fleet, field) -> None:
    with pytest.raises(ValidationError) as error:
        MaintenanceWindow.schedule(
            ends_at=timezone.now() + timedelta(minutes=minutes),
            reason="Troca de chip",
            instances=fleet[:1] if instances else [],
            whole_fleet=whole_fleet,
        )
    assert field in error.value.message_dict
    assert not MaintenanceWindow.objects.exists()


def test_the_demo_starts_with_its_logged_out_number_under_maintenance_once(clock) -> None:
    from io import StringIO

    from julia_monitor.management.commands.run_demo import Command

    command = Command(stdout=StringIO())
    command._schedule_demo_maintenance()
    command._schedule_demo_maintenance()  # a restart keeps the one window

    [demo] = MaintenanceWindow.objects.active(timezone.now())
    assert [i.name for i in demo.instances.all()] == ["julia-df-01"]
    assert "Manutenção de demonstração: julia-df-01, em manutenção até 14:30." in command.stdout.getvalue()


@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_release_a_window_once(make_alert) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite in-memory test databases serialise writers; the race needs PostgreSQL")
    now = timezone.now()
    alert = make_alert("zap-01", rule=Rule.INSTANCE_OFFLINE)
    held_by = MaintenanceWindow.schedule(
        starts_at=now - timedelta(hours=1),
        ends_at=now - timedelta(minutes=1),
        reason="Troca",
        instances=[alert.instance],
    )
    alert.queue_notifications(NotificationKind.FIRING, "b1", now - timedelta(minutes=30))
    assert [r.window for r in slack_rows(alert)] == [held_by]
    barrier = threading.Barrier(4)
    released: list[int] = []

    def release() -> None:
        barrier.wait()
        try:
            released.append(len(release_ended_windows(now, new_batch())))
        finally:
            connection.close()

    threads = [threading.Thread(target=release) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(released) == [0, 0, 0, 1]
    assert [r.state for r in slack_rows(alert)] == [NotificationState.HELD, NotificationState.PENDING]
