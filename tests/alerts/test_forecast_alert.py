"""'Capacidade prevista esgotada': a warning once a day, before the 80 % rule, and its closings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from alerts.choices import AlertState, Resolution, Rule
from alerts.models import Alert, Notification
from alerts.rules import evaluate
from instances.models import Instance

SP = ZoneInfo("America/Sao_Paulo")


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SP)


def evaluate_at(moment: datetime) -> list[str]:
    """Evaluate at ``moment``; return the titles of the alerts it opened."""
    with time_machine.travel(moment, tick=False):
        return [a.title for a in evaluate().opened]


@pytest.fixture
def zap(make_instance) -> Instance:
    """1,000 a day (and no hourly limit in sight): 400 sent since 08:00 by 10:00."""
    with time_machine.travel(at(10), tick=False):
        instance = make_instance("zap-01", capacity_per_hour=5000, capacity_per_day=1000)
        instance.record_sent(count=400, at=at(8, 30))
    return instance


def forecast_alerts() -> list[Alert]:
    return list(Alert.objects.filter(rule=Rule.CAPACITY_FORECAST).order_by("pk"))


@pytest.mark.django_db
def test_it_warns_once_when_the_day_limit_is_forecast_hours_ahead(zap) -> None:
    # 200/h: the 600 left are gone at 13:00, at 40 % used, long before the 80 % rule.
    assert evaluate_at(at(10)) == ["Instância zap-01: limite diário previsto às 13:00"]
    assert evaluate_at(at(10, 5)) == []
    assert evaluate_at(at(10, 6)) == []

    (alert,) = forecast_alerts()
    assert (alert.severity, alert.state, alert.occurrences) == ("warning", AlertState.FIRING, 3)
    assert sorted(Notification.objects.filter(alert=alert).values_list("channel", flat=True)) == ["log", "slack"]
    # Six quiet minutes slowed the pace: the open alert's words follow it (no new alert, no new post).
    assert alert.title == "Instância zap-01: limite diário previsto às 13:10"
    assert "atinge o limite diário de 1000 mensagens por volta das 13:10" in alert.message
    assert Notification.objects.filter(alert=alert).count() == 2


@pytest.mark.django_db
def test_it_resolves_when_the_pace_no_longer_exhausts_the_day_and_not_again_that_day(zap) -> None:
    evaluate_at(at(10))
    Instance.objects.filter(pk=zap.pk).update(capacity_per_day=5000)
    with time_machine.travel(at(10, 10), tick=False):
        assert [a.rule for a in evaluate().resolved] == [Rule.CAPACITY_FORECAST]

    # The pace is back over the limit with hours to spare: told already today, so not again.
    Instance.objects.filter(pk=zap.pk).update(capacity_per_day=1000)
    assert evaluate_at(at(10, 20)) == []
    assert [(a.state, a.resolution) for a in forecast_alerts()] == [(AlertState.RESOLVED, Resolution.CLEARED)]


@pytest.mark.django_db
def test_it_ends_at_midnight_and_warns_again_on_a_new_day(zap) -> None:
    evaluate_at(at(10))
    with time_machine.travel(at(0, 5, day=26), tick=False):
        assert [a.rule for a in evaluate().resolved] == [Rule.CAPACITY_FORECAST]

    with time_machine.travel(at(9, day=26), tick=False):
        zap.record_sent(count=400)
    assert evaluate_at(at(10, day=26)) == ["Instância zap-01: limite diário previsto às 11:30"]
    assert len(forecast_alerts()) == 2


@pytest.mark.django_db
def test_it_does_not_open_with_less_than_an_hour_to_spare(make_instance) -> None:
    # 460 since 21:00 by 22:00: the limit is forecast at 23:10, 50 minutes before midnight.
    zap = make_instance("zap-01", capacity_per_hour=5000, capacity_per_day=1000)
    with time_machine.travel(at(21, 30), tick=False):
        zap.record_sent(count=460)

    assert evaluate_at(at(22)) == []


@pytest.mark.django_db
def test_it_never_opens_in_the_days_last_hour(make_instance, as_viewer) -> None:
    zap = make_instance("zap-01", capacity_per_hour=5000, capacity_per_day=1000)
    with time_machine.travel(at(23, 5), tick=False):
        zap.record_sent(count=500)

    assert evaluate_at(at(23, 20)) == []
    with time_machine.travel(at(23, 20), tick=False):  # the page still says it
        assert "limite diário às 23:40 neste ritmo" in as_viewer.get("/instancias/zap-01/").content.decode()


@pytest.mark.django_db
def test_past_80_percent_the_capacity_alert_takes_over_without_telling_twice(zap) -> None:
    evaluate_at(at(10))
    with time_machine.travel(at(10, 10), tick=False):
        zap.record_sent(count=450)  # 850 of 1,000
        result = evaluate()

    assert [a.rule for a in result.opened] == [Rule.CAPACITY_HIGH]
    assert [(a.rule, a.resolution) for a in result.resolved] == [(Rule.CAPACITY_FORECAST, Resolution.ESCALATED)]
    assert evaluate_at(at(10, 15)) == []


@pytest.mark.django_db
def test_already_past_80_percent_only_the_capacity_alert_fires(zap) -> None:
    with time_machine.travel(at(10), tick=False):
        zap.record_sent(count=450)

    assert evaluate_at(at(10, 5)) == ["Capacidade alta: zap-01"]
