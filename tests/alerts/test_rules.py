"""The alert rules: what fires, what waits, what resolves, and what stays quiet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.choices import AlertState, Channel, EventKind, NotificationKind, NotificationState, Rule
from alerts.models import Alert, Notification
from alerts.rules import evaluate
from instances.models import CheckCycle, Instance, Status


@pytest.fixture
def slack_configured(settings) -> None:
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/services/T/B/X"


@pytest.fixture
def fleet(make_instance) -> list[Instance]:
    """Three connected instances that have been up for an hour."""
    long_ago = timezone.now() - timedelta(hours=1)
    return [
        make_instance(f"zap-0{n}", status=Status.CONNECTED, status_since=long_ago, last_seen_connected_at=long_ago)
        for n in range(1, 4)
    ]


def go_offline(instance: Instance, seconds_ago: int, code: int | None = None) -> None:
    """Record a close seen ``seconds_ago`` (with a terminal ``code``, as a webhook reports it)."""
    at = timezone.now() - timedelta(seconds=seconds_ago)
    reason = "sessão encerrada no aparelho (401)" if code else ""
    instance.record_status(Status.DISCONNECTED, reason, at=at, code=code)


def open_alerts(rule: str | None = None) -> list[Alert]:
    qs = Alert.objects.open()
    return list(qs.filter(rule=rule) if rule else qs)


@pytest.mark.django_db
def test_a_healthy_fleet_raises_nothing(fleet) -> None:
    result = evaluate()

    assert result.opened == []
    assert not Alert.objects.exists()


@pytest.mark.django_db
def test_a_single_blip_is_not_an_outage(fleet, settings) -> None:
    settings.OFFLINE_DEBOUNCE_SECONDS = 60
    go_offline(fleet[0], seconds_ago=20)

    evaluate()

    assert open_alerts() == []


@pytest.mark.django_db
def test_an_instance_down_past_the_debounce_fires_once(fleet, settings, slack_configured) -> None:
    settings.OFFLINE_DEBOUNCE_SECONDS = 60
    go_offline(fleet[0], seconds_ago=90)

    first = evaluate()
    again = evaluate()

    assert [a.title for a in first.opened] == ["Instância zap-01 offline"]
    assert again.opened == [] and again.persisting == 1
    alert = Alert.objects.get()
    assert (alert.severity, alert.occurrences) == ("error", 2)
    assert sorted(Notification.objects.values_list("channel", flat=True)) == ["log", "slack"]


@pytest.mark.django_db
def test_a_terminal_close_from_the_gateway_fires_at_once(fleet, settings) -> None:
    settings.OFFLINE_DEBOUNCE_SECONDS = 300
    go_offline(fleet[0], seconds_ago=1, code=401)

    assert [a.rule for a in evaluate().opened] == [Rule.INSTANCE_OFFLINE]


@pytest.mark.django_db
def test_an_instance_never_connected_is_not_offline(make_instance) -> None:
    make_instance("zap-nova", status=Status.CONNECTING, last_seen_connected_at=None)
    make_instance("zap-ok", status=Status.CONNECTED)

    evaluate()

    assert open_alerts() == []


@pytest.mark.django_db
def test_it_resolves_when_the_instance_is_back_and_says_so(fleet, slack_configured) -> None:
    go_offline(fleet[0], seconds_ago=600)
    evaluate()
    Instance.objects.filter(pk=fleet[0].pk).update(status=Status.CONNECTED)

    result = evaluate()

    assert [a.rule for a in result.resolved] == [Rule.INSTANCE_OFFLINE]
    alert = Alert.objects.get()
    assert alert.state == AlertState.RESOLVED and alert.resolved_by is None
    kinds = Notification.objects.filter(kind=NotificationKind.RESOLVED).values_list("channel", flat=True)
    assert sorted(kinds) == ["log", "slack"]
    assert list(alert.events_ordered().values_list("kind", flat=True)) == [EventKind.OPENED, EventKind.RESOLVED]


@pytest.mark.django_db
def test_a_ban_goes_to_slack_email_and_log_and_waits_for_a_person(fleet, settings, slack_configured) -> None:
    settings.ALERT_EMAILS = ["ops@example.com"]
    fleet[0].record_status(Status.BANNED, "número banido (406)", code=406)

    alert = evaluate().opened[0]
    fleet[0].record_status(Status.CONNECTED)
    evaluate()

    assert (alert.title, alert.severity) == ("Instância zap-01 BANIDA", "critical")
    assert "número banido (406)" in alert.message
    assert sorted(Notification.objects.values_list("channel", flat=True)) == ["email", "log", "slack"]
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING  # never resolved silently


@pytest.mark.django_db
def test_capacity_over_80_percent_warns_once_and_resolves(fleet) -> None:
    hot = fleet[0]
    hot.record_sent(count=17)  # 17/20 this hour = 85 %

    first = evaluate()
    evaluate()

    assert [(a.title, a.severity) for a in first.opened] == [("Capacidade alta: zap-01", "warning")]
    assert Alert.objects.count() == 1
    Instance.objects.filter(pk=hot.pk).update(capacity_per_hour=100, capacity_per_day=1000)
    assert [a.rule for a in evaluate().resolved] == [Rule.CAPACITY_HIGH]


@pytest.mark.django_db
def test_exactly_80_percent_is_not_high(fleet) -> None:
    fleet[0].record_sent(count=16)  # 16/20 = 80 %

    # (At that pace the day's limit may well be forecast: that is the forecast's own alert.)
    assert Rule.CAPACITY_HIGH not in [a.rule for a in evaluate().opened]


@pytest.mark.django_db
def test_more_than_five_failures_in_a_row_goes_to_the_log_only(fleet, slack_configured) -> None:
    Instance.objects.filter(pk=fleet[0].pk).update(consecutive_failures=5)
    assert evaluate().opened == []
    Instance.objects.filter(pk=fleet[0].pk).update(consecutive_failures=6, last_error="timeout")

    alert = evaluate().opened[0]

    assert alert.rule == Rule.CONSECUTIVE_FAILURES
    assert list(alert.notifications.values_list("channel", flat=True)) == [Channel.LOG]


@pytest.mark.django_db
def test_all_offline_is_critical_and_inhibits_the_instance_alerts(fleet, slack_configured) -> None:
    for instance in fleet:
        go_offline(instance, seconds_ago=120)

    result = evaluate()

    fleet_alert = next(a for a in result.opened if a.rule == Rule.ALL_OFFLINE)
    assert fleet_alert.title.startswith("SISTEMA CRÍTICO")
    assert fleet_alert.severity == "critical"
    offline = [a for a in result.opened if a.rule == Rule.INSTANCE_OFFLINE]
    assert len(offline) == 3 and all(a.suppressed for a in offline)
    slack = Notification.objects.filter(channel=Channel.SLACK)
    assert list(slack.values_list("alert__rule", flat=True)) == [Rule.ALL_OFFLINE]
    assert Notification.objects.filter(channel=Channel.LOG).count() == 4  # every alert reaches the log


@pytest.mark.django_db
def test_suppressed_resolutions_are_still_sent_in_one_batch(fleet, slack_configured) -> None:
    for instance in fleet:
        go_offline(instance, seconds_ago=120)
    evaluate()
    Instance.objects.update(status=Status.CONNECTED)

    result = evaluate()

    assert len(result.resolved) == 4
    resolved = Notification.objects.filter(channel=Channel.SLACK, kind=NotificationKind.RESOLVED)
    assert resolved.count() == 4
    assert len(set(resolved.values_list("batch", flat=True))) == 1


@pytest.mark.django_db
def test_an_instance_still_down_after_the_fleet_recovers_is_posted_then(fleet, slack_configured) -> None:
    for instance in fleet:
        go_offline(instance, seconds_ago=120)
    evaluate()
    Instance.objects.exclude(pk=fleet[0].pk).update(status=Status.CONNECTED)

    evaluate()

    still_down = Alert.objects.get(rule=Rule.INSTANCE_OFFLINE, instance=fleet[0], state=AlertState.FIRING)
    assert still_down.suppressed is False
    assert still_down.notifications.filter(channel=Channel.SLACK, kind=NotificationKind.FIRING).exists()


@pytest.mark.django_db
def test_gateway_down_fires_once_and_resolves_when_it_answers(fleet, settings) -> None:
    settings.GATEWAY_ALERT_AFTER_SECONDS = 90
    start = timezone.now()
    for minute in (0, 1, 2):
        at = start + timedelta(minutes=minute)
        CheckCycle.objects.create(started_at=at, finished_at=at, gateway_ok=False, gateway_error="conexão recusada")

    opened = evaluate(now=start + timedelta(minutes=2)).opened
    back = start + timedelta(minutes=3)
    CheckCycle.objects.create(started_at=back, finished_at=back, gateway_ok=True)
    resolved = evaluate(now=back).resolved

    assert [(a.rule, a.severity) for a in opened] == [(Rule.GATEWAY_UNREACHABLE, "critical")]
    assert "conexão recusada" in opened[0].message
    assert [a.rule for a in resolved] == [Rule.GATEWAY_UNREACHABLE]


@pytest.mark.django_db
def test_alerts_born_together_share_one_batch(fleet) -> None:
    for instance in fleet[:2]:
        go_offline(instance, seconds_ago=120)

    evaluate()

    assert Notification.objects.values("batch").distinct().count() == 1


@pytest.mark.django_db
def test_unacknowledged_alerts_remind_and_acknowledged_ones_do_not(fleet, settings, slack_configured) -> None:
    settings.REMINDER_MINUTES = {"critical": 30, "error": 60, "warning": 0}
    go_offline(fleet[0], seconds_ago=120)
    go_offline(fleet[1], seconds_ago=120)
    evaluate()
    quiet = Alert.objects.get(instance=fleet[1])
    quiet.acknowledge(user=None)

    later = timezone.now() + timedelta(minutes=61)
    result = evaluate(now=later)
    again = evaluate(now=later + timedelta(minutes=1))

    assert [a.instance_id for a in result.reminded] == [fleet[0].pk]
    assert again.reminded == []
    assert Notification.objects.filter(kind=NotificationKind.REMINDER, channel=Channel.SLACK).count() == 1


@pytest.mark.django_db
def test_warnings_do_not_remind(fleet) -> None:
    fleet[0].record_sent(count=19)
    evaluate()

    assert evaluate(now=timezone.now() + timedelta(hours=5)).reminded == []


@pytest.mark.django_db
def test_an_unconfigured_channel_is_kept_as_undelivered_by_choice(fleet, settings) -> None:
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_BOT_TOKEN = ""
    go_offline(fleet[0], seconds_ago=120)

    evaluate()

    slack = Notification.objects.get(channel=Channel.SLACK)
    assert slack.state == NotificationState.SUPPRESSED
    assert Notification.objects.get(channel=Channel.LOG).state == NotificationState.PENDING


@pytest.mark.django_db
def test_a_terminal_close_stays_firing_when_the_gateway_dates_it_a_little_earlier(fleet, settings) -> None:
    # The webhook records the close at its arrival; the next cycle copies the gateway's own
    # disconnectionAt, a moment earlier. It is still the same fresh terminal close.
    settings.OFFLINE_DEBOUNCE_SECONDS = 300
    go_offline(fleet[0], seconds_ago=1, code=401)
    evaluate()
    Instance.objects.filter(pk=fleet[0].pk).update(disconnection_at=timezone.now() - timedelta(seconds=2))

    result = evaluate()

    assert result.resolved == []
    assert open_alerts(Rule.INSTANCE_OFFLINE)[0].instance_id == fleet[0].pk


@pytest.mark.django_db
def test_an_old_disconnection_code_does_not_skip_the_debounce(fleet, settings) -> None:
    settings.OFFLINE_DEBOUNCE_SECONDS = 300
    long_ago = timezone.now() - timedelta(days=2)
    go_offline(fleet[0], seconds_ago=10)
    Instance.objects.filter(pk=fleet[0].pk).update(disconnection_code=401, disconnection_at=long_ago)

    assert evaluate().opened == []


@pytest.mark.django_db
def test_a_blip_of_the_whole_fleet_does_not_page_everyone(fleet, settings) -> None:
    settings.OFFLINE_DEBOUNCE_SECONDS = 60
    for instance in fleet:
        go_offline(instance, seconds_ago=20)

    assert evaluate().opened == []
    later = evaluate(now=timezone.now() + timedelta(seconds=61))
    assert Rule.ALL_OFFLINE in {a.rule for a in later.opened}
