"""The capacity forecast: the pace of this hour and today, when the limits are reached, and where it shows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from instances.forecast import day_end, describe, forecast, seconds_between
from instances.models import Instance, Status

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=SP)


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SP)


def test_the_hour_pace_says_when_the_hourly_limit_is_reached() -> None:
    # 12 in the first 30 minutes: 8 more take 20 minutes.
    f = forecast(12, 20, 12, 1000, at(14), NOW)

    assert f.hour.limit_at == at(14, 50)
    assert describe(f.hour, "da hora") == "limite da hora às 14:50 neste ritmo"


def test_the_day_pace_counts_from_the_first_hour_with_messages_not_from_midnight() -> None:
    # 300 since 08:00 is 46/h; 700 more take 15 h 10 min: past midnight, so no limit today.
    f = forecast(0, 100, 300, 1000, at(8), NOW)
    assert f.day.limit_at is None
    assert f.day.projected == 300 + int(300 / 6.5 * 9.5)
    assert describe(f.day, "diário") == "dentro do limite neste ritmo: 738 de 1000 até o fim do dia"

    # 600 since 08:00: 400 more take 4 h 20 min.
    f = forecast(0, 100, 600, 1000, at(8), NOW)
    assert f.day.limit_at == at(18, 50)
    assert describe(f.day, "diário") == "limite diário às 18:50 neste ritmo"


def test_too_little_time_or_too_few_messages_make_no_forecast() -> None:
    early = forecast(15, 20, 15, 100, at(14), at(14, 9))  # 9 minutes into the hour and the day
    few = forecast(9, 20, 9, 100, at(14), NOW)  # 9 messages

    for f in (early, few):
        assert (f.hour.projected, f.day.projected) == (None, None)
        assert describe(f.hour, "da hora") == describe(f.day, "diário") == "sem previsão"
        assert f.short == ""


def test_a_limit_already_reached_says_so() -> None:
    f = forecast(20, 20, 40, 100, at(13), NOW)

    assert describe(f.hour, "da hora") == "limite da hora atingido"
    assert f.hour.limit_at is None


def test_a_limit_beyond_the_hour_is_no_hourly_limit() -> None:
    # 19 in 59 minutes: the 20th would come at 15:02, in the next hour.
    f = forecast(19, 20, 19, 1000, at(14), at(14, 59))

    assert f.hour.limit_at is None
    assert describe(f.hour, "da hora") == "dentro do limite neste ritmo: 19 de 20 até o fim da hora"


def test_the_day_ends_at_local_midnight_and_is_measured_in_real_hours() -> None:
    assert day_end(at(23, 50)) == datetime(2026, 11, 26, 0, 0, tzinfo=SP)
    # 16 Feb 2019 had 25 hours in São Paulo (daylight saving ended at midnight).
    noon = datetime(2019, 2, 16, 12, 0, tzinfo=SP)
    assert seconds_between(noon, day_end(noon)) == 13 * 3600


@pytest.fixture
def busy(make_instance) -> Instance:
    """zap-01: 600 of 1,000 today, sent since 08:00; 12 of 20 in the current hour."""
    with time_machine.travel(NOW, tick=False):
        instance = make_instance("zap-01", capacity_per_hour=2000, capacity_per_day=1000)
        instance.record_sent(count=588, at=at(8, 15))
        instance.record_sent(count=12, at=at(14, 10))
    return instance


@pytest.mark.django_db
def test_the_instance_page_shows_the_forecast_for_the_hour_and_the_day(as_viewer, busy) -> None:
    with time_machine.travel(NOW, tick=False):
        page = as_viewer.get("/instancias/zap-01/").content.decode()

    assert 'data-forecast="day">Hoje: limite diário às 18:50 neste ritmo' in page
    assert 'data-forecast="hour">Nesta hora: dentro do limite neste ritmo: 24 de 2000 até o fim da hora' in page


@pytest.mark.django_db
def test_the_day_forecast_starts_over_after_midnight(as_viewer, busy) -> None:
    with time_machine.travel(at(0, 15, day=26), tick=False):
        page = as_viewer.get("/instancias/zap-01/").content.decode()

    assert 'data-forecast="day">Hoje: sem previsão' in page


@pytest.mark.django_db
def test_the_api_detail_has_the_forecast_beside_the_spec_keys(api_client, busy) -> None:
    with time_machine.travel(NOW, tick=False):
        body = api_client.get("/dashboard/instances/zap-01").json()

    assert body["uso"] == {"msgs_hora": 12, "msgs_dia": 600, "carga_pct": 60.0}
    assert body["previsao"] == {
        "limite_hora_em": None,
        "limite_dia_em": "2026-11-25T18:50:00-03:00",
        "projecao_dia": 600 + int(600 / 6.5 * 9.5),
    }


@pytest.fixture
def fleet(make_instance) -> None:
    """Two online instances (5,000 a day between them) and one down that sent 100 today."""
    with time_machine.travel(at(14), tick=False):
        fast = make_instance("zap-fast", capacity_per_hour=5000, capacity_per_day=3000)
        slow = make_instance("zap-slow", capacity_per_hour=5000, capacity_per_day=2000, phone_number="2")
        down = make_instance("zap-down", status=Status.DISCONNECTED, capacity_per_day=1000, phone_number="3")
        fast.record_sent(count=1500, at=at(8, 30))  # 250/h since 08:00: would reach 4,000, stops at 3,000
        slow.record_sent(count=300, at=at(9, 30))  # 50/h since 08:00 would be 800 at midnight...
        slow.record_sent(count=1, at=at(8, 5))  # ...counted from its first hour, 08:00
        down.record_sent(count=100, at=at(9))  # down: no pace, its 100 stay 100


@pytest.mark.django_db
def test_the_overview_shows_the_fleets_projection_against_online_capacity(as_viewer, api_client, fleet) -> None:
    with time_machine.travel(at(14), tick=False):
        page = as_viewer.get("/").content.decode()
        resumo = api_client.get("/dashboard/instances").json()["resumo"]

    # 3,000 (capped) + 301 + 301/6 h × 10 h + 100 = 3,902 of the online 5,000.
    assert "previsão para hoje: 3.902 de 5.000 (78%)" in page
    assert (resumo["previsao_dia"], resumo["previsao_dia_pct"], resumo["capacidade_dia"]) == (3902, "78.0%", 5000)
    assert 'data-field="forecast">limite diário às 20:00</span>' in page  # zap-fast: 1,500 more at 250/h
