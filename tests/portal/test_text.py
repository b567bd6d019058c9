"""The product's words for counts, shares and times: one of each, the same on every page and message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.pages import moment
from instances.templatetags.fleet import ago
from julia_monitor.lib import text

NOW = datetime(2026, 3, 10, 17, 5, tzinfo=UTC)  # 14:05 in São Paulo


@pytest.mark.parametrize(
    ("age", "said"),
    [
        (timedelta(seconds=3), "agora"),
        (timedelta(seconds=40), "há 40 s"),
        (timedelta(minutes=3), "há 3 min"),
        (timedelta(hours=2, minutes=5), "há 2 h 5 min"),
    ],
)
def test_the_same_age_reads_the_same_on_the_fleet_page_and_in_the_alert_log(age: timedelta, said: str) -> None:
    at = NOW - age

    assert ago(at, NOW) == said
    assert moment(at, NOW).label == said


@pytest.mark.parametrize(
    ("delta", "said"),
    [
        (timedelta(seconds=30), "menos de 1 min"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(days=1, hours=4), "1 d 4 h"),
    ],
)
def test_a_duration_counts_whole_minutes(delta: timedelta, said: str) -> None:
    assert text.duration(delta) == said


def test_moments_are_told_in_sao_paulo_time() -> None:
    assert text.moment(NOW) == "10/03 14:05"
    assert text.moment_exact(NOW + timedelta(seconds=7)) == "10/03 14:05:07"
    assert text.moment_full(NOW) == "10/03/2026 14:05:00"
    assert text.clock(NOW, NOW) == "14:05"
    assert text.clock(NOW - timedelta(days=1), NOW) == "09/03 14:05"


def test_counts_agree_with_their_word_and_shares_have_one_decimal() -> None:
    assert (text.plural(1, "falha", "falhas"), text.plural(3, "falha", "falhas")) == ("1 falha", "3 falhas")
    assert text.percent(12.345) == "12.3%"
