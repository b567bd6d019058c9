"""Uptime: the share of a window an instance spent connected, from its status history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from instances.models import Status
from instances.uptime import uptime

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY_AGO = NOW - timedelta(hours=24)


@dataclass
class Change:
    created_at: datetime
    old_status: str
    new_status: str


def change(hours_ago: float, old: str, new: str) -> Change:
    return Change(NOW - timedelta(hours=hours_ago), old, new)


def test_an_instance_with_no_history_is_up_all_along_if_connected_now() -> None:
    result = uptime([], Status.CONNECTED, DAY_AGO, NOW)

    assert result.pct == 100.0
    assert result.downtime == timedelta(0)


def test_an_instance_with_no_history_is_down_all_along_if_not_connected_now() -> None:
    assert uptime([], Status.DISCONNECTED, DAY_AGO, NOW).pct == 0.0


def test_it_counts_the_time_between_a_drop_and_the_recovery_as_down() -> None:
    changes = [
        change(6, Status.CONNECTED, Status.DISCONNECTED),
        change(3, Status.DISCONNECTED, Status.CONNECTED),
    ]

    result = uptime(changes, Status.CONNECTED, DAY_AGO, NOW)

    assert result.downtime == timedelta(hours=3)
    assert result.pct == pytest.approx(21 / 24 * 100)


def test_the_status_before_the_first_change_in_the_window_is_that_changes_old_status() -> None:
    # Down at the start of the window (we know it from old_status), up for the last 4 hours.
    changes = [change(4, Status.BANNED, Status.CONNECTED)]

    assert uptime(changes, Status.CONNECTED, DAY_AGO, NOW).connected == timedelta(hours=4)


def test_a_change_before_the_window_sets_the_status_at_its_start() -> None:
    # Connected two days ago, then nothing: up for the whole last day.
    changes = [change(48, Status.UNKNOWN, Status.CONNECTED), change(2, Status.CONNECTED, Status.CONNECTING)]

    result = uptime(changes, Status.CONNECTING, DAY_AGO, NOW)

    assert result.connected == timedelta(hours=22)


def test_connecting_banned_and_unknown_all_count_as_not_connected() -> None:
    changes = [
        change(20, Status.CONNECTED, Status.CONNECTING),
        change(16, Status.CONNECTING, Status.UNKNOWN),
        change(12, Status.UNKNOWN, Status.BANNED),
        change(8, Status.BANNED, Status.CONNECTED),
    ]

    result = uptime(changes, Status.CONNECTED, DAY_AGO, NOW)

    assert result.connected == timedelta(hours=4 + 8)


def test_time_before_the_instance_existed_is_not_counted() -> None:
    created = NOW - timedelta(hours=2)
    changes = [Change(created + timedelta(minutes=30), Status.UNKNOWN, Status.CONNECTED)]

    result = uptime(changes, Status.CONNECTED, DAY_AGO, NOW, since=created)

    assert result.observed == timedelta(hours=2)
    assert result.pct == pytest.approx(75.0)


def test_changes_after_the_window_only_say_what_the_status_was_during_it() -> None:
    # Window ends 10 hours ago; the instance dropped 5 hours ago, so it was up in the window.
    changes = [change(5, Status.CONNECTED, Status.DISCONNECTED)]

    result = uptime(changes, Status.DISCONNECTED, NOW - timedelta(hours=20), NOW - timedelta(hours=10))

    assert result.pct == 100.0


def test_changes_may_arrive_in_any_order() -> None:
    changes = [
        change(3, Status.DISCONNECTED, Status.CONNECTED),
        change(6, Status.CONNECTED, Status.DISCONNECTED),
    ]

    assert uptime(changes, Status.CONNECTED, DAY_AGO, NOW).downtime == timedelta(hours=3)


def test_an_empty_window_has_no_uptime_rather_than_a_division_by_zero() -> None:
    result = uptime([], Status.CONNECTED, NOW, NOW)

    assert result.share is None
    assert result.pct is None
