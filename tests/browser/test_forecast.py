"""The capacity forecast, as a person reads it on an instance's page in a real browser."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=SP)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_instance_page_says_when_the_limits_are_reached_at_this_pace(page, log_in, make_instance) -> None:
    # The clock ticks from 14:30 (the live server and the browser need time to pass).
    with time_machine.travel(NOW, tick=True):
        zap = make_instance("zap-01", capacity_per_hour=20, capacity_per_day=100)
        zap.record_sent(count=48, at=datetime(2026, 11, 25, 11, 30, tzinfo=SP))
        zap.record_sent(count=12, at=datetime(2026, 11, 25, 14, 10, tzinfo=SP))
        log_in("leitora")
        page.goto("/instancias/zap-01/")

        # 12 in the hour's first 30 minutes, 60 since 11:00: 14:50 and 16:50.
        assert page.text_content("[data-forecast=hour]").strip() == "Nesta hora: limite da hora às 14:50 neste ritmo"
        assert page.text_content("[data-forecast=day]").strip() == "Hoje: limite diário às 16:50 neste ritmo"
        assert page.is_visible("#forecast")
